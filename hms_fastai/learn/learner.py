"""The HMS learner: fastai's vision_learner on a timm body with n_in channels, 6 soft outputs and the KL objective."""
from pathlib import Path

import fastai.callback.channelslast  # noqa: F401  (Learner.to_channelslast)
import fastai.callback.progress  # noqa: F401  (progress bars on every Learner)
import fastai.callback.schedule  # noqa: F401  (Learner.fit_one_cycle, fine_tune, lr_find)
import torch
from fastai.learner import Learner
from fastai.torch_core import set_seed
from fastai.vision.learner import vision_learner
from fastcore.meta import delegates
from safetensors import safe_open

from ..core.constants import TARGETS
from ..core.defaults import ARCH, LR
from ..core.errors import HMSDataError
from .augment import FlipInputs
from .data import dl_channels
from .metrics import KLDivLossFlat, kl_metrics

__all__ = ['HMSLearner', 'HEAD_ARGS', 'check_weights', 'hms_learner', 'timm_body']

HEAD_ARGS = ('concat_pool', 'pool', 'lin_ftrs', 'ps', 'first_bn', 'bn_final', 'lin_first', 'y_range')   # shape the model


def check_weights(path) -> Path:
    """`path` as a local weights file: a state dict of tensors in .safetensors or torch's format, read without running code."""
    path = Path(path)
    if not path.is_file(): raise HMSDataError(path, 'no such weights file (expected a timm state dict, .pth or .safetensors)')
    try:
        if path.suffix == '.safetensors':
            with safe_open(str(path), 'pt') as f: keys = list(f.keys())
        else:
            state = torch.load(path, map_location='cpu', weights_only=True)
            state = state.get('state_dict', state.get('model', state)) if isinstance(state, dict) else state
            keys = [k for k, v in state.items() if torch.is_tensor(v)] if isinstance(state, dict) else []
    except Exception as e:
        raise HMSDataError(path, f'not a weights file ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""})') from None
    if not keys: raise HMSDataError(path, 'holds no tensors: not a model state dict')
    return path


def _weights_kwargs(pretrained) -> dict:
    """timm arguments that load a local weights file (a path) instead of downloading (True)."""
    if isinstance(pretrained, bool): return {}
    return {'pretrained_cfg_overlay': {'file': str(check_weights(pretrained))}}


class HMSLearner(Learner):
    """fastai's Learner with a deterministic `tta`: the mean of plain and hemisphere-flipped predictions."""

    def tta(self, ds_idx: int = 1, dl=None, flip: bool = True, **kwargs):
        """Probabilities averaged over identity and left↔right flip, never the random training augmentations."""
        if kwargs: raise TypeError(f'HMSLearner.tta is deterministic (identity + flip); unsupported {sorted(kwargs)}')
        dl = dl if dl is not None else self.dls[ds_idx].new(shuffle=False, drop_last=False)
        preds, targs = self.get_preds(dl=dl)
        if not flip: return preds, targs
        flipped, _ = self.get_preds(dl=dl, cbs=[FlipInputs(dl_channels(dl))])
        return (preds + flipped) / 2, targs


@delegates(vision_learner)
def hms_learner(dls, arch: str = ARCH, n_in: int | None = None, pretrained: bool | str | Path = False,
                lr: float = LR, metrics=None, cbs=None, seed: int | None = None, bf16: bool | None = None,
                **kwargs) -> Learner:
    """vision_learner on timm `arch`: n_in (default: the dls's channels) → 6 logits, KL loss, Kaggle-KL metrics, bf16."""
    # pretrained True (timm download or HF cache) or a weights path (first conv adapted to n_in by timm): the body
    # starts frozen, as fastai does; fine_tune() trains the head, then unfreezes. False: nothing frozen; fit_one_cycle().
    # bf16 (default: when the dls are on CUDA): bf16 autocast and channels_last; fp32 otherwise.
    if seed is not None: set_seed(seed)
    learn = vision_learner(dls, arch, n_in=n_in or len(dl_channels(dls)), n_out=len(TARGETS), pretrained=bool(pretrained),
                           normalize=False, loss_func=KLDivLossFlat(), metrics=kl_metrics() if metrics is None else metrics,
                           cbs=cbs, lr=lr, **_weights_kwargs(pretrained), **kwargs)
    learn.__class__ = HMSLearner       # vision_learner builds a plain Learner; only `tta` differs
    learn.hms_spec = {'kind': 'image', 'arch': arch, 'n_in': n_in or len(dl_channels(dls)), 'n_out': len(TARGETS),
                      'head': {k: v for k, v in kwargs.items() if k in HEAD_ARGS}}     # what rebuilds the model (exports)
    if bf16 is None: bf16 = torch.device(dls.device or 'cpu').type == 'cuda'
    if bf16: learn.to_channelslast(amp_mode='bf16')
    return learn


def timm_body(learn: Learner):
    """The timm model inside a learner's body (e.g. to inspect `conv1`)."""
    return learn.model[0].model
