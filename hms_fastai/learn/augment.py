"""Training-time augmentation: hemisphere flip by channel name, SpecAugment-style stripe masks, soft-label MixUp."""
import torch
from fastai.callback.core import Callback
from fastai.torch_core import TensorImage
from fastcore.basics import store_attr
from fasttransform import Transform

from ..core.constants import HALVES, REGIONS, SIGNAL_CHANNELS, part_of
from .data import EEGSignal

__all__ = ['flip_perm', 'flip_channels', 'FlipInputs', 'HemisphereFlip', 'stripe_mask', 'TimeMask', 'FreqMask', 'SoftMixUp', 'hms_augs']

_MIRROR = {'LL': 'RL', 'LP': 'RP', 'Fp1': 'Fp2', 'F3': 'F4', 'C3': 'C4', 'P3': 'P4', 'F7': 'F8', 'T3': 'T4', 'T5': 'T6', 'O1': 'O2'}
_MIRROR |= {v: k for k, v in _MIRROR.items()}             # regions and electrodes, left ↔ right (midline: itself)


def _mirror(name: str) -> str:
    """The other hemisphere's channel: 'spec_LL' → 'spec_RL' (image), 'Fp1-F7' → 'Fp2-F8' (bipolar chain)."""
    if name in SIGNAL_CHANNELS: return '-'.join(_MIRROR.get(e, e) for e in name.split('-'))
    half = HALVES[part_of(name)]                           # ValueError on an unknown name
    return half[REGIONS.index(_MIRROR[REGIONS[half.index(name)]])]


def flip_perm(channels: list[str]) -> list[int]:
    """For each of `channels` (CHANNELS or SIGNAL_CHANNELS names), the position in `channels` of its mirror."""
    channels = list(channels)
    mirrors = [_mirror(c) for c in channels]
    missing = [m for m in mirrors if m not in channels]
    if missing: raise ValueError(f'cannot flip hemispheres of {channels}: mirror channel(s) {missing} absent')
    return [channels.index(m) for m in mirrors]


def flip_channels(x: torch.Tensor, channels: list[str]) -> torch.Tensor:
    """Images (…, C, H, W) or EEG chains (…, C, T) with left and right swapped (LL↔RL …, Fp1-F7↔Fp2-F8 …); deterministic."""
    dim = -2 if channels[0] in SIGNAL_CHANNELS else -3
    return x.index_select(dim, torch.tensor(flip_perm(channels), device=x.device))


class FlipInputs(Callback):
    """Flip the hemispheres of every input batch (deterministic test-time augmentation)."""

    def __init__(self, channels: list[str]): self.perm = flip_perm(channels)

    def before_batch(self):
        """Swap the channels of the batch's inputs."""
        self.learn.xb = (self.xb[0][:, self.perm],)


def _channels(tfm, x) -> list[str]:
    """The channel names a transform works with: its own, else those the batch carries (set by hms_dls)."""
    channels = tfm.channels or getattr(x, 'channels', None)
    if channels is None: raise ValueError(f'{type(tfm).__name__} needs channel names: pass channels=')
    return channels


class HemisphereFlip(Transform):
    """Swap the hemispheres of each training image with probability `p` (labels unchanged: classes are unsided)."""
    split_idx, order = 0, 10

    def __init__(self, p: float = 0.5, channels: list[str] | None = None):
        super().__init__()
        store_attr()

    def encodes(self, x: TensorImage | EEGSignal):
        """Flip a random subset of the batch (images or EEG chains)."""
        keep = (torch.rand(len(x), device=x.device) >= self.p).view(-1, *[1] * (x.ndim - 1))
        return x.where(keep, flip_channels(x, _channels(self, x)))   # x first: keeps its type and metadata


def stripe_mask(bs: int, size: int, n: int, max_width: float, p: float, device=None) -> torch.Tensor:
    """(bs, size) bool: up to `n` stripes each of width < `max_width`·size, in a random fraction `p` of samples."""
    width = (torch.rand(bs, n, device=device) * max_width * size).long()
    start = (torch.rand(bs, n, device=device) * (size - width + 1)).long()
    pos = torch.arange(size, device=device)
    inside = ((pos >= start[..., None]) & (pos < (start + width)[..., None])).any(1)
    return inside & (torch.rand(bs, 1, device=device) < p)


class TimeMask(Transform):
    """SpecAugment time masking: zero `n` random column stripes (all channels) of a fraction `p` of training images."""
    split_idx, order, dim = 0, 20, -1

    def __init__(self, p: float = 0.5, n: int = 2, max_width: float = 0.1):
        super().__init__()
        store_attr()

    def encodes(self, x: TensorImage) -> TensorImage:
        """Mask a random subset of the batch."""
        m = stripe_mask(len(x), x.shape[self.dim], self.n, self.max_width, self.p, x.device)
        return x.masked_fill(m[:, None, None, :] if self.dim == -1 else m[:, None, :, None], 0.)


class FreqMask(TimeMask):
    """SpecAugment frequency masking: zero `n` random row stripes (all channels) of a fraction `p` of training images."""
    order, dim = 21, -2


class SoftMixUp(Callback):
    """MixUp for soft labels: training inputs and vote distributions mixed with the same λ ~ Beta(α, α) per sample."""
    run_valid = False

    def __init__(self, alpha: float = 0.4):
        store_attr()
        self.beta = torch.distributions.Beta(torch.tensor(float(alpha)), torch.tensor(float(alpha)))

    def before_batch(self):
        """Mix each sample with a random partner; λ ≥ 0.5 so the sample stays the larger part."""
        x, y = self.xb[0], self.yb[0]
        lam = self.beta.sample((len(x),)).to(x.device)
        lam = torch.maximum(lam, 1 - lam)
        perm = torch.randperm(len(x), device=x.device)
        self.learn.xb = (torch.lerp(x[perm], x, lam.view(-1, *[1] * (x.ndim - 1)).to(x.dtype)),)
        self.learn.yb = (torch.lerp(y[perm], y, lam.view(-1, 1).to(y.dtype)),)


def _prob(p, default: float = 0.5) -> float:
    """A switch given as True/False or a probability."""
    return default if p is True else float(p)


def hms_augs(flip: float | bool = 0.5, mask: float | bool = 0.5, mixup: float = 0.0) -> tuple[list, list]:
    """(batch_tfms for hms_dls, cbs for fit): flip/mask probabilities and MixUp α; 0 or False switches one off."""
    tfms = [HemisphereFlip(_prob(flip))] if flip else []
    if mask: tfms += [TimeMask(_prob(mask)), FreqMask(_prob(mask))]
    return tfms, [SoftMixUp(mixup)] if mixup else []
