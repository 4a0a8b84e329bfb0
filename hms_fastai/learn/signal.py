"""The 'signal' kind: a label window's 16 bipolar chains, band-passed on the batch's device, into fastai's 1D XResNet.

Why this body: fastai's XResNet (the ResNet-D tweaks of the image models' resnet34d) built with `ndim=1` is a compact,
well-tested 1D CNN that trains from scratch in minutes on a CPU; the chains enter as 16 input channels, so the first
convolutions see both hemispheres at once, as the 4th place's 1D EfficientNet and the 3rd place's conv front end did.
"""
import math

import matplotlib.pyplot as plt
import torch
from fastai.vision.models import xresnet
from plum import dispatch

from ..core.constants import EEG_RATE, EEG_WINDOW, HALVES, SIGNAL_CHANNELS
from .data import EEGSignal, InputAssembly, vote_title
from .kinds import Kind, register_kind

__all__ = ['BAND', 'CLIP_UV', 'SIGNAL_RATE', 'SIGNAL_ARCHS', 'band_pass', 'PrepareSignals', 'signal_model', 'SIGNAL']

BAND = (0.5, 20.0)         # Hz kept (the top solutions' band)
CLIP_UV = 1024.0           # µV: artefacts beyond are clipped
SIGNAL_RATE = 50           # Hz after the band-pass: 2,500 samples a window (20 Hz fits under its 25 Hz Nyquist)
_SCALE = 1 / 100           # µV → about unit scale
SIGNAL_ARCHS = {'xresnet1d18': xresnet.xresnet18, 'xresnet1d34': xresnet.xresnet34, 'xresnet1d50': xresnet.xresnet50}


def _mask(n_bins: int, rate: float, device) -> torch.Tensor:
    """rfft weights of a `BAND` band-pass with raised-cosine edges (0.2 Hz and 2 Hz wide) at `rate` Hz."""
    f = torch.arange(n_bins, device=device) * rate / (2 * (n_bins - 1))
    lo, hi = BAND
    rise = ((f - (lo - 0.1)) / 0.2).clamp(0, 1)
    fall = (((hi + 1) - f) / 2).clamp(0, 1)
    return (0.5 - 0.5 * torch.cos(math.pi * rise)) * (0.5 - 0.5 * torch.cos(math.pi * fall))


def band_pass(x: torch.Tensor) -> torch.Tensor:
    """(B, 10000, 16) raw bipolar µV (NaN allowed) → (B, 16, 2500) float32: band-passed 0.5–20 Hz, 50 Hz, clipped, scaled."""
    x = x.float().transpose(1, 2)
    mean = x.nanmean(-1, keepdim=True).nan_to_num(0.0)
    x = torch.where(x.isnan(), mean, x) - mean                 # gaps: the chain's mean, as the mel recipe fills them
    n_out = EEG_WINDOW * SIGNAL_RATE // EEG_RATE
    spec = torch.fft.rfft(x, dim=-1)[..., :n_out // 2 + 1]     # the bins below the new Nyquist: a band-limited resample
    y = torch.fft.irfft(spec * _mask(n_out // 2 + 1, SIGNAL_RATE, x.device), n=n_out, dim=-1) * (n_out / EEG_WINDOW)
    return y.clamp_(-CLIP_UV, CLIP_UV).mul_(_SCALE)


class PrepareSignals(InputAssembly):
    """The raw windows of a batch → its band-passed chains (EEGSignal), on the batch's device."""

    def encodes(self, raw: dict) -> EEGSignal:
        """Band-pass, resample, clip and scale the 16 chains."""
        return EEGSignal(band_pass(raw['eeg']), channels=self.channels)


def signal_model(arch: str, n_in: int, n_out: int) -> torch.nn.Module:
    """A 1D body of SIGNAL_ARCHS with `n_in` input chains and `n_out` logits, freshly initialised."""
    if arch not in SIGNAL_ARCHS: raise ValueError(f'unknown raw-EEG arch {arch!r}; known: {list(SIGNAL_ARCHS)}')
    return SIGNAL_ARCHS[arch](c_in=n_in, n_out=n_out, ndim=1)


SIGNAL = register_kind(Kind(
    'signal', arch='xresnet1d18', channels=tuple(SIGNAL_CHANNELS), assembly=PrepareSignals, model=signal_model,
    input_shape=lambda n_in: (n_in, EEG_WINDOW * SIGNAL_RATE // EEG_RATE), store_channels=tuple(HALVES['eeg']),
    about='the 16 bipolar EEG chains, band-passed 0.5-20 Hz at 50 Hz → a 1-D XResNet'))


@dispatch
def show_batch(x: EEGSignal, y, samples, ctxs=None, max_n: int = 4, **kwargs):
    """One panel of chains per sample, titled with its vote distribution when there is one."""
    samples = samples[:max_n]
    fig, axs = plt.subplots(len(samples), 1, figsize=(12, 5 * len(samples)), squeeze=False)
    for s, ax in zip(samples, axs[:, 0]): s[0].show(ctx=ax, title=vote_title(s[1]) if len(s) > 1 else None)
    return fig
