"""The HMS learner, one entry for every kind: the kind's body (from the registry) → 6 logits, the KL objective, Kaggle-KL
metrics, the precision chosen from the device, and a deterministic TTA."""
import tempfile
from pathlib import Path

import fastai.callback.schedule  # noqa: F401  (Learner.fit_one_cycle, fine_tune, lr_find)
import torch
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback
from fastai.learner import Learner
from fastai.torch_core import set_seed
from fastai.imports import noop  # fastai's own: what no_logging() sets
from safetensors import safe_open

from ..core.constants import TARGETS
from ..core.errors import HMSDataError
from ..core.progress import interactive
from ..core.train_args import TrainArgs
from .augment import FlipInputs
from .data import dl_channels, dl_kind
from .device import apply_precision, check_cuda
from .metrics import KLDivLossFlat, kl_metrics

__all__ = ['HMSLearner', 'EpochLines', 'readable_progress', 'check_weights', 'hms_learner']


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


class EpochLines(Callback):
    """fastai's epoch table without its bars: a header, then one line per epoch (for logs written to a file or a pipe)."""
    order = ProgressCallback.order

    def before_fit(self):
        """Print the table's header (when the learner logs) and route its epoch lines here."""
        if self.learn.logger is noop: return
        self.old_logger, self.learn.logger = self.learn.logger, self._line
        self.widths = [max(len(n), 9) for n in self.recorder.metric_names]
        print('  '.join(n.ljust(w) for n, w in zip(self.recorder.metric_names, self.widths)), flush=True)

    def _line(self, log):
        """One epoch's values under the header."""
        cells = [f'{v:.6f}' if isinstance(v, float) else str(v) for v in log]
        print('  '.join(c.ljust(w) for c, w in zip(cells, self.widths)), flush=True)

    def after_fit(self):
        """Give the learner its logger back."""
        if hasattr(self, 'old_logger'): self.learn.logger = self.old_logger


def readable_progress(learn: Learner) -> Learner:
    """`learn` with fastprogress bars where they redraw in place, else `EpochLines` (logs hold one line per epoch)."""
    if not interactive() and learn.cbs.filter(lambda cb: isinstance(cb, ProgressCallback)):
        learn.remove_cb(ProgressCallback)
        learn.add_cb(EpochLines())
    return learn


class HMSLearner(Learner):
    """fastai's Learner with a deterministic `tta`: the mean of plain and hemisphere-flipped predictions (where a kind flips)."""

    def tta(self, ds_idx: int = 1, dl=None, flip: bool = True, **kwargs):
        """Probabilities averaged over identity and left↔right flip, never the random training augmentations."""
        if kwargs: raise TypeError(f'HMSLearner.tta is deterministic (identity + flip); unsupported {sorted(kwargs)}')
        dl = dl if dl is not None else self.dls[ds_idx].new(shuffle=False, drop_last=False)
        preds, targs = self.get_preds(dl=dl)
        if not (flip and dl_kind(dl).flip): return preds, targs
        flipped, _ = self.get_preds(dl=dl, cbs=[FlipInputs(dl_channels(dl))])
        return (preds + flipped) / 2, targs

    def lr_find(self, *args, **kwargs):
        """fastai's lr_find with its checkpoint in a temp folder, so no empty `models/` folder is left in the working one."""
        model_dir = self.model_dir
        with tempfile.TemporaryDirectory() as tmp:
            self.model_dir = Path(tmp)
            try: return super().lr_find(*args, **kwargs)
            finally: self.model_dir = model_dir


def hms_learner(dls, arch: str | None = None,    # the body (None: the kind's default, e.g. resnet34d for images)
                pretrained: bool | str | Path = False,   # True (timm download) or a local weights file: the body starts frozen
                lr: float = TrainArgs.lr, metrics=None, cbs=None, seed: int | None = None,
                precision: str = TrainArgs.precision,    # 'auto' (from the device), 'bf16', 'fp16' or 'fp32'
                **kwargs) -> HMSLearner:
    """The learner of the dls's kind (made by `hms_dls`): n_in inputs → 6 logits, KL loss with softmax, Kaggle-KL metrics."""
    # With pretrained weights the body starts frozen, as fastai does (fine_tune trains the head, then unfreezes); without,
    # nothing is frozen (fit_one_cycle). kwargs: head arguments of the kind (e.g. lin_ftrs, ps) and Learner arguments.
    kind = dl_kind(dls)
    check_cuda(dls.device)
    if pretrained is not False and not kind.pretrained: raise HMSDataError('pretrained', f'the {kind.name} kind has no pretrained weights')
    if seed is not None: set_seed(seed)
    arch, n_in = arch or kind.arch, len(dl_channels(dls))
    common = dict(loss_func=KLDivLossFlat(), metrics=kl_metrics() if metrics is None else metrics, cbs=cbs, lr=lr)
    head = {k: kwargs[k] for k in kind.head_args if k in kwargs}
    if kind.learner is None:
        rest = {k: v for k, v in kwargs.items() if k not in head}
        learn = HMSLearner(dls, kind.model(arch, n_in, len(TARGETS), **head), **common, **rest)
    else: learn = kind.learner(dls, arch, n_in, len(TARGETS), pretrained, **common, **kwargs)
    learn.__class__ = HMSLearner       # a kind's factory may build a plain Learner (vision_learner does); only `tta` differs
    learn.hms_spec = {'kind': kind.name, 'arch': arch, 'n_in': n_in, 'n_out': len(TARGETS), 'head': head}   # rebuilds it (exports)
    apply_precision(learn, precision, spatial=kind.spatial)
    return readable_progress(learn)
