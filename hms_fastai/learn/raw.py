"""The raw-EEG learner: a label window's 16 bipolar chains, band-passed on the batch's device, into fastai's 1D XResNet.

Why this body: fastai's XResNet (the ResNet-D tweaks of the image models' resnet34d) built with `ndim=1` is a compact,
well-tested 1D CNN that trains from scratch in minutes on a CPU; the chains enter as 16 input channels, so the first
convolutions see both hemispheres at once, as the 4th place's 1D EfficientNet and the 3rd place's conv front end did.
"""
import math

import matplotlib.pyplot as plt
import pandas as pd
import torch
from fastai.data.block import DataBlock, TransformBlock
from fastai.data.core import DataLoaders
from fastai.torch_core import set_seed
from fastai.vision.models import xresnet
from fastcore.meta import delegates
from plum import dispatch

from ..core.constants import CHANNELS, EEG_RATE, EEG_WINDOW, SIGNAL_CHANNELS
from ..core.defaults import BS, LR, RAW_ARCH
from .data import (EEGSignal, HMSDataLoader, HMSImage, InputAssembly, check_fold_table, default_windows, fold_dls, place_store,
                   vote_title)
from .learner import HMSLearner
from .metrics import KLDivLossFlat, kl_metrics

__all__ = ['BAND', 'CLIP_UV', 'SIGNAL_RATE', 'RAW_ARCHS', 'band_pass', 'PrepareSignals', 'EEGSignalBlock',
           'hms_raw_dls', 'raw_model', 'hms_raw_learner']

BAND = (0.5, 20.0)         # Hz kept (the top solutions' band)
CLIP_UV = 1024.0           # µV: artefacts beyond are clipped
SIGNAL_RATE = 50           # Hz after the band-pass: 2,500 samples a window (20 Hz fits under its 25 Hz Nyquist)
_SCALE = 1 / 100           # µV → about unit scale
RAW_ARCHS = {'xresnet1d18': xresnet.xresnet18, 'xresnet1d34': xresnet.xresnet34, 'xresnet1d50': xresnet.xresnet50}


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


def EEGSignalBlock(store, windows: str = 'random', jitter: float = 0.0) -> TransformBlock:
    """Input block: rows → the 16 bipolar chains of a label window (random in training, else the centre) through `store`."""
    return TransformBlock(type_tfms=HMSImage(store.with_channels(CHANNELS[4:]), form='signal'), batch_tfms=PrepareSignals(),
                          dl_type=HMSDataLoader, dls_kwargs={'windows': windows, 'jitter': jitter})


@delegates(DataBlock.dataloaders)
def hms_raw_dls(table: pd.DataFrame, store, fold: int = 0, bs: int = BS, batch_tfms=None, windows: str | None = None,
                jitter: float = 0.0, vote_weight: bool = False, resident: bool | None = None, num_workers: int = 0,
                seed: int | None = None, **kwargs) -> DataLoaders:
    """DataLoaders of (EEG chains, votes), like `hms_dls`: `fold` validates at the centre window, the rest at `windows`."""
    check_fold_table(table, fold)
    store.rows(table['eeg_id'])
    store = place_store(store.with_channels(CHANNELS[4:]), resident)
    return fold_dls(table, store, EEGSignalBlock(store, windows or default_windows(), jitter), fold, bs, batch_tfms, vote_weight,
                    num_workers, seed, **kwargs)


def raw_model(arch: str = RAW_ARCH, n_in: int = len(SIGNAL_CHANNELS), n_out: int = 6) -> torch.nn.Module:
    """A 1D body of RAW_ARCHS with `n_in` input chains and `n_out` logits."""
    if arch not in RAW_ARCHS: raise ValueError(f'unknown raw-EEG arch {arch!r}; known: {list(RAW_ARCHS)}')
    return RAW_ARCHS[arch](c_in=n_in, n_out=n_out, ndim=1)


def hms_raw_learner(dls, arch: str = RAW_ARCH, lr: float = LR, metrics=None, cbs=None, seed: int | None = None,
                    bf16: bool | None = None, **kwargs) -> HMSLearner:
    """A Learner of `raw_model(arch)` on `hms_raw_dls`: KL loss, Kaggle-KL metrics, deterministic chain-swap TTA, bf16 on CUDA."""
    if seed is not None: set_seed(seed)
    n_in = len(SIGNAL_CHANNELS)
    learn = HMSLearner(dls, raw_model(arch, n_in), loss_func=KLDivLossFlat(), metrics=kl_metrics() if metrics is None else metrics,
                       cbs=cbs, lr=lr, **kwargs)
    learn.hms_spec = {'kind': 'signal', 'arch': arch, 'n_in': n_in, 'n_out': 6, 'head': {}}   # what rebuilds it (exports)
    if bf16 is None: bf16 = torch.device(dls.device or 'cpu').type == 'cuda'
    if bf16: learn.to_bf16()
    return learn


@dispatch
def show_batch(x: EEGSignal, y, samples, ctxs=None, max_n: int = 4, **kwargs):
    """One panel of chains per sample, titled with its vote distribution when there is one."""
    samples = samples[:max_n]
    fig, axs = plt.subplots(len(samples), 1, figsize=(12, 5 * len(samples)), squeeze=False)
    for s, ax in zip(samples, axs[:, 0]): s[0].show(ctx=ax, title=vote_title(s[1]) if len(s) > 1 else None)
    return fig
