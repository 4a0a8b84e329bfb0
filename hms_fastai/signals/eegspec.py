"""EEG half of the 8-channel image: bipolar chains → mel spectrograms in torch, numerically the seed's librosa recipe."""
import math
from functools import lru_cache

import numpy as np
import torch

from ..core.constants import BIPOLAR, EEG_COLUMNS, EEG_RATE, EEG_WINDOW, IMAGE_SHAPE, REGIONS

__all__ = ['mel_filters', 'bipolar', 'bipolar_mels', 'eeg_mels', 'eeg_image']

N_MELS, N_TIME = IMAGE_SHAPE           # 128 mel bands, 256 kept frames
N_FFT, WIN, FMAX = 1024, 128, 20.0     # librosa n_fft, win_length (Hann), fmax (fmin is 0)
HOP = EEG_WINDOW // N_TIME             # librosa hop_length = len(x) // 256 = 39
N_FRAMES = 1 + EEG_WINDOW // HOP       # 257 centred frames; ref=np.max sees all of them, the first 256 are kept
AMIN, FLOOR = 1e-10, 1e-8              # power_to_db amin, and top_db=80 as a power ratio
_SCALE = 1e4                           # the +40 dB: (dB + 40) / 40 = log10(1e4·ratio) / 4, and 1e4·ratio ∈ [1e-4, 1e4]
_HALF = WIN // 2                       # frame t is centred on sample t*HOP: samples t*HOP-64 … t*HOP+63
_PAD = (_HALF, (N_FRAMES - 1) * HOP + WIN - _HALF - EEG_WINDOW)  # centre=True zero padding that frames use
_FROM, _TO = ([EEG_COLUMNS.index(p[i]) for p in BIPOLAR] for i in (0, 1))   # electrode columns of each difference
_CPU_CHUNK, _CHUNK = 1, 64             # default samples per pass: on CPU one keeps the scratch in cache (2 or 4: 15-35% slower)


def mel_filters() -> np.ndarray:
    """Slaney mel filter bank (128, 513) float32, equal to `librosa.filters.mel(sr=200, n_fft=1024, n_mels=128, fmin=0, fmax=20)`."""
    f_sp = 200.0 / 3                    # Slaney's mel scale is linear (f / f_sp) below 1 kHz, so for 0-20 Hz
    mel_f = f_sp * np.linspace(0.0, FMAX / f_sp, N_MELS + 2)
    ramps = mel_f[:, None] - np.fft.rfftfreq(N_FFT, 1.0 / EEG_RATE)
    fdiff = np.diff(mel_f)[:, None]
    tri = np.maximum(0, np.minimum(-ramps[:-2] / fdiff[:-1], ramps[2:] / fdiff[1:])).astype(np.float32)
    return (tri * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]).astype(np.float32)  # rounded twice, as librosa does


def _dft(bins: np.ndarray) -> np.ndarray:
    """Even and odd halves (2, n_bins, 64) of the Hann-windowed DFT at `bins` of a 1024-point frame, about its centre."""
    j = np.arange(_HALF)
    win = 0.5 - 0.5 * np.cos(2 * np.pi * (_HALF + j) / WIN)  # periodic Hann, padded to the centre of n_fft
    ang = 2 * np.pi * np.outer(bins, j) / N_FFT
    even, odd = win * np.cos(ang), win * np.sin(ang)
    even[:, 0] /= 2                     # the centre sample enters the even sum twice
    return np.stack([even, odd])


def _mel_taps(fb: np.ndarray) -> tuple:
    """Each band's filter as taps on adjacent bins: indices (taps, bands) and weights (taps, bands, 1), 0 past its support."""
    taps = (fb != 0).argmax(1) + np.arange((fb != 0).sum(1).max())[:, None]
    idx = np.minimum(taps, fb.shape[1] - 1)
    return idx, np.where(taps == idx, fb[np.arange(len(fb)), idx], 0)[..., None]


def _kernels_np() -> tuple:
    """The DFT halves and mel taps over the bins any mel filter uses (1 … 102)."""
    fb = mel_filters()
    bins = np.flatnonzero(fb.any(0))
    return _dft(bins), _mel_taps(fb[:, bins])


_KERNELS = _kernels_np()


@lru_cache(maxsize=None)
def _kernels(device: torch.device, dtype: torch.dtype) -> tuple:
    """The DFT's even and odd halves (2, bins, 64), mel tap indices and weights on `device` (cached)."""
    dft, (idx, weights) = _KERNELS
    return torch.as_tensor(dft, dtype=dtype, device=device), torch.as_tensor(idx, device=device), torch.as_tensor(weights, dtype=dtype, device=device)


def _workspace(device: torch.device, dtype: torch.dtype):
    """`get(name, *shape, zero=False)`: a scratch tensor made on first use (zeroed if asked), reused after as a prefix."""
    bufs = {}  # allocating them afresh for every chunk made the CPU path ~35% slower (page faults)

    def get(name: str, *shape: int, zero: bool = False) -> torch.Tensor:
        if name not in bufs: bufs[name] = (torch.zeros if zero else torch.empty)(math.prod(shape), device=device, dtype=dtype)
        return bufs[name][:math.prod(shape)].view(shape)
    return get


def bipolar(x):
    """(..., T, 20) EEG in EEG_COLUMNS order → (..., T, 16) bipolar differences in BIPOLAR order (numpy or torch)."""
    return x[..., _FROM] - x[..., _TO]


def _padded(d: torch.Tensor, work) -> torch.Tensor:
    """(b, 16, T + padding) differences with zero margins, NaN filled with each one's mean (all NaN → 0)."""
    padded = work('padded', len(d), len(BIPOLAR), EEG_WINDOW + sum(_PAD), zero=True)  # only the middle is ever written
    mid = padded[..., _PAD[0]:_PAD[0] + EEG_WINDOW].copy_(d.transpose(1, 2))
    if mid.sum().isnan(): mid.copy_(torch.where(mid.isnan(), mid.nanmean(-1, keepdim=True).nan_to_num(0.0), mid))
    return padded


def _mel(padded: torch.Tensor, dft: torch.Tensor, idx: torch.Tensor, weights: torch.Tensor, work) -> torch.Tensor:
    """(128, b·16·257) mel power of every frame: one even/odd DFT matmul over the filters' bins, then the filters' taps."""
    frames = padded.unfold(-1, WIN, HOP)                                          # (b, 16, 257, 128), a view
    right, left = frames[..., _HALF:], frames[..., 1:_HALF + 1].flip(-1)        # samples centre+j, centre-j
    halves = work('halves', 2, *right.shape)
    torch.add(right, left, out=halves[0])
    torch.sub(right, left, out=halves[1])
    halves = halves.view(2, -1, _HALF)
    re_im = torch.bmm(dft, halves.transpose(1, 2), out=work('re_im', 2, dft.shape[1], halves.shape[1]))
    power = re_im[0].square_().addcmul_(re_im[1], re_im[1])                     # (bins, b·16·257)
    mel = torch.index_select(power, 0, idx[0], out=work('mel', N_MELS, power.shape[1])).mul_(weights[0])
    for i, w in zip(idx[1:], weights[1:]): mel.addcmul_(torch.index_select(power, 0, i, out=work('tap', *mel.shape)), w)
    return mel


def _ratio(mel: torch.Tensor, b: int) -> torch.Tensor:
    """_SCALE × `power_to_db(ref=np.max, amin=1e-10, top_db=80)` as a power ratio, in place: (128, b, 4, 4, 256)."""
    ref = mel.amax(0).view(b, len(REGIONS), -1, N_FRAMES).amax(-1, keepdim=True).clamp_(min=AMIN)  # all 257 frames
    ratio = mel.view(N_MELS, *ref.shape[:-1], N_FRAMES)[..., :N_TIME]
    return ratio.mul_(_SCALE / ref).clamp_(min=(_SCALE * AMIN / ref).clamp_(min=_SCALE * FLOOR))


def _chunk(d: torch.Tensor, out: torch.Tensor, kernels: tuple, work):
    """Write `bipolar_mels` of a few samples into `out`."""
    mel = _mel(_padded(d, work), *kernels, work)
    torch.prod(_ratio(mel, len(d)), 3, out=out.permute(2, 0, 1, 3))  # a chain's 4 ratios multiplied: 1 log, not 4
    out.log_().mul_(1 / (16 * math.log(10)))  # mean over pairs of (dB + 40) / 40 = log10(Π 1e4·ratio) / 16


@torch.no_grad()
def bipolar_mels(d: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """(B, 10000, 16) bipolar differences (any float dtype) → (B, 4, 128, 256) float32 mels on d's device, `chunk` at a time."""
    if d.ndim != 3 or tuple(d.shape[1:]) != (EEG_WINDOW, len(BIPOLAR)):
        raise ValueError(f'd must be (B, {EEG_WINDOW}, {len(BIPOLAR)}) bipolar differences in BIPOLAR order, got {tuple(d.shape)}')
    dtype = torch.float64 if d.dtype == torch.float64 else torch.float32
    kernels, work = _kernels(d.device, dtype), _workspace(d.device, dtype)
    chunk = chunk or (_CPU_CHUNK if d.device.type == 'cpu' else _CHUNK)
    out = torch.empty(len(d), len(REGIONS), N_MELS, N_TIME, device=d.device)
    for i in range(0, len(d), chunk): _chunk(d[i:i + chunk], out[i:i + chunk], kernels, work)
    return out


def eeg_mels(x: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """(B, 10000, 20) EEG, EEG_COLUMNS order → (B, 4, 128, 256) float32 mels, REGIONS order, on x's device, `chunk` at a time."""
    if x.ndim != 3 or tuple(x.shape[1:]) != (EEG_WINDOW, len(EEG_COLUMNS)):
        raise ValueError(f'x must be (B, {EEG_WINDOW}, {len(EEG_COLUMNS)}) in EEG_COLUMNS order, got {tuple(x.shape)}')
    return bipolar_mels(bipolar(x), chunk)


def eeg_image(eeg: np.ndarray) -> np.ndarray:
    """One (10000, 20) EEG window → its (4, 128, 256) float32 mel image (numpy in, numpy out)."""
    return eeg_mels(torch.tensor(eeg, dtype=torch.float32)[None])[0].numpy()
