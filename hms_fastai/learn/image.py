"""The 'image' kind: the 8-channel image (Kaggle spectrogram half + EEG mel half) into fastai's vision_learner on a timm body."""
import matplotlib.pyplot as plt
import numpy as np
from fastai.vision.learner import create_timm_model, vision_learner
from plum import dispatch

from ..core.constants import CHANNELS, IMAGE_SHAPE
from ..signals.image import assemble
from .data import HMSTensorImage, InputAssembly, vote_title
from .kinds import Kind, register_kind

__all__ = ['AssembleImages', 'IMAGE', 'image_model', 'image_learner', 'timm_body']

HEAD_ARGS = ('concat_pool', 'pool', 'lin_ftrs', 'ps', 'first_bn', 'bn_final', 'lin_first', 'y_range')   # fastai's head


class AssembleImages(InputAssembly):
    """The raw windows of a batch → its images, on the batch's device."""

    def encodes(self, raw: dict) -> HMSTensorImage:
        """Kaggle crop clip/log/standardise/placement and the EEG mels (or the stored centre mels), batched."""
        return HMSTensorImage(assemble(raw), channels=self.channels)


def image_model(arch: str, n_in: int, n_out: int, **head):
    """fastai's timm model (body + head) for `arch`, freshly initialised: what an export's weights load into."""
    return create_timm_model(arch, n_out, pretrained=False, n_in=n_in, **head)[0]


def _weights_kwargs(pretrained) -> dict:
    """timm arguments that load a local weights file (a path) instead of downloading (True)."""
    from .learner import check_weights
    if isinstance(pretrained, bool): return {}
    return {'pretrained_cfg_overlay': {'file': str(check_weights(pretrained))}}


def image_learner(dls, arch: str, n_in: int, n_out: int, pretrained=False, **kwargs):
    """fastai's vision_learner on timm `arch` (no ImageNet normalisation: the images are standardised already)."""
    # a weights path: timm loads it (adapting the first conv to n_in); True: timm's download (or HF cache)
    return vision_learner(dls, arch, n_in=n_in, n_out=n_out, pretrained=bool(pretrained), normalize=False,
                          **_weights_kwargs(pretrained), **kwargs)


def timm_body(learn):
    """The timm model inside an image learner's body (e.g. to inspect `conv1`)."""
    return learn.model[0].model


IMAGE = register_kind(Kind(
    'image', arch='resnet34d', channels=tuple(CHANNELS), assembly=AssembleImages, model=image_model,
    input_shape=lambda n_in: (n_in, *IMAGE_SHAPE), learner=image_learner, mels=True, head_args=HEAD_ARGS, pretrained=True,
    spatial=True, about='the 8-channel image (Kaggle spectrogram + EEG mels) → a timm CNN'))


@dispatch
def show_batch(x: HMSTensorImage, y, samples, ctxs=None, max_n: int = 4, **kwargs):
    """One row of channel panels per sample, titled with its vote distribution when there is one."""
    samples = samples[:max_n]
    n_ch = len(samples[0][0])
    fig = ctxs if ctxs is not None else plt.figure(figsize=(3 * n_ch, 2.8 * len(samples)), layout='constrained')
    for s, sub in zip(samples, np.atleast_1d(fig.subfigures(len(samples), 1))):
        s[0].show(ctx=sub, title=vote_title(s[1]) if len(s) > 1 else None)
    return fig
