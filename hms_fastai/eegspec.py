"""EEG half of the 8-channel image: bipolar chains → mel spectrograms in torch, numerically the seed's librosa recipe."""
import math
from functools import lru_cache

import numpy as np
import torch

from .constants import CHAINS, EEG_COLUMNS, EEG_RATE, EEG_WINDOW, IMAGE_SHAPE, REGIONS

__all__ = ['mel_filters', 'eeg_mels', 'eeg_image']

N_MELS, N_TIME = IMAGE_SHAPE           # 128 mel bands, 256 kept frames
N_FFT, WIN, FMAX = 1024, 128, 20.0     # librosa n_fft, win_length (Hann), fmax (fmin is 0)
HOP = EEG_WINDOW // N_TIME             # librosa hop_length = len(x) // 256 = 39
N_FRAMES = 1 + EEG_WINDOW // HOP       # 257 centred frames; ref=np.max sees all of them, the first 256 are kept
AMIN, FLOOR = 1e-10, 1e-8              # power_to_db amin, and top_db=80 as a power ratio
_HALF = WIN // 2                       # frame t is centred on sample t*HOP: samples t*HOP-64 … t*HOP+63
_PAD = (_HALF, (N_FRAMES - 1) * HOP + WIN - _HALF - EEG_WINDOW)  # centre=True zero padding that frames use
_PAIRS = np.array([[EEG_COLUMNS.index(c) for c in (a, b)] for r in REGIONS for a, b in zip(CHAINS[r], CHAINS[r][1:])])
_CPU_CHUNK, _CHUNK = 1, 64             # samples per pass: on CPU one sample keeps the intermediates in cache


def mel_filters() -> np.ndarray:
    """Slaney mel filter bank (128, 513) float32, equal to `librosa.filters.mel(sr=200, n_fft=1024, n_mels=128, fmin=0, fmax=20)`."""
    f_sp = 200.0 / 3                    # Slaney's mel scale is linear (f / f_sp) below 1 kHz, so for 0-20 Hz
    mel_f = f_sp * np.linspace(0.0, FMAX / f_sp, N_MELS + 2)
    ramps = mel_f[:, None] - np.fft.rfftfreq(N_FFT, 1.0 / EEG_RATE)
    fdiff = np.diff(mel_f)[:, None]
    tri = np.maximum(0, np.minimum(-ramps[:-2] / fdiff[:-1], ramps[2:] / fdiff[1:])).astype(np.float32)
    return (tri * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]).astype(np.float32)  # rounded twice, as librosa does


def _dft(bins: np.ndarray) -> tuple:
    """Even and odd halves (n_bins, 64) of the Hann-windowed DFT at `bins` of a 1024-point frame, about its centre."""
    j = np.arange(_HALF)
    win = 0.5 - 0.5 * np.cos(2 * np.pi * (_HALF + j) / WIN)  # periodic Hann, padded to the centre of n_fft
    ang = 2 * np.pi * np.outer(bins, j) / N_FFT
    even, odd = win * np.cos(ang), win * np.sin(ang)
    even[:, 0] /= 2                     # the centre sample enters the even sum twice
    return even, odd


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
    """Pair indices, DFT halves, mel tap indices and weights as tensors on `device` (cached)."""
    (even, odd), (idx, weights) = _KERNELS
    t = lambda a, dt=dtype: torch.as_tensor(a, dtype=dt, device=device)
    return t(_PAIRS.T, torch.long), t(even), t(odd), t(idx, torch.long), t(weights)


def _workspace(device: torch.device, dtype: torch.dtype):
    """`get(name, *shape, zero=False)`: a scratch tensor made on first use (zeroed if asked), reused after as a prefix."""
    bufs = {}  # on CPU, reallocating the chunk's tensors costs more in page faults than the chunk's arithmetic

    def get(name: str, *shape: int, zero: bool = False) -> torch.Tensor:
        if name not in bufs: bufs[name] = (torch.zeros if zero else torch.empty)(math.prod(shape), device=device, dtype=dtype)
        return bufs[name][:math.prod(shape)].view(shape)
    return get


def _differences(x: torch.Tensor, pairs: torch.Tensor, work) -> torch.Tensor:
    """(b, 16, T + padding) bipolar differences with zero margins, NaN filled with each one's mean (all NaN → 0)."""
    b = len(x)
    xt = work('xt', b, len(EEG_COLUMNS), EEG_WINDOW).copy_(x.transpose(1, 2))
    padded = work('padded', b, len(_PAIRS), EEG_WINDOW + sum(_PAD), zero=True)  # margins stay zero: only the middle is written
    d = padded[..., _PAD[0]:_PAD[0] + EEG_WINDOW]
    a, c = (torch.index_select(xt, 1, i, out=work(f'pair{k}', b, len(_PAIRS), EEG_WINDOW)) for k, i in enumerate(pairs))
    torch.sub(a, c, out=d)
    if d.sum().isnan(): d.copy_(torch.where(d.isnan(), d.nanmean(-1, keepdim=True).nan_to_num(0.0), d))
    return padded


def _chunk(x: torch.Tensor, out: torch.Tensor, kernels: tuple, work):
    """Write `eeg_mels` of a few samples into `out`; spectra are laid out (frequency, sample·pair·frame)."""
    pairs, even, odd, idx, weights = kernels
    b, n = len(x), len(x) * len(_PAIRS) * N_FRAMES
    frames = _differences(x, pairs, work).unfold(-1, WIN, HOP)                   # (b, 16, 257, 128)
    right, left = frames[..., _HALF:], frames[..., 1:_HALF + 1].flip(-1)        # samples centre+j, centre-j
    plus = torch.add(right, left, out=work('plus', *right.shape))
    minus = torch.sub(right, left, out=left)
    power = torch.mm(even, plus.view(-1, _HALF).T, out=work('power', len(even), n)).square_()
    im = torch.mm(odd, minus.view(-1, _HALF).T, out=work('im', len(odd), n))
    power.addcmul_(im, im)
    mel = torch.index_select(power, 0, idx[0], out=work('mel', N_MELS, n)).mul_(weights[0])
    for i, w in zip(idx[1:], weights[1:]): mel.addcmul_(torch.index_select(power, 0, i, out=work('tap', N_MELS, n)), w)
    mel = mel.view(N_MELS, b, len(REGIONS), -1, N_FRAMES)
    ref = mel.amax((0, -1), keepdim=True).clamp_(min=AMIN)  # power_to_db(ref=np.max) over all 257 frames
    ratio = mel[..., :N_TIME].mul_(1e4 / ref).clamp_(min=1e4 * (AMIN / ref).clamp_(min=FLOOR))  # 1e4 × [1e-8, 1]
    torch.prod(ratio, 3, out=out.permute(2, 0, 1, 3))  # one log per chain, not per pair:
    out.log10_().div_(16)                               # mean of (10·log10(ratio) + 40) / 40 = log10(Π 1e4·ratio) / 16


@torch.no_grad()
def eeg_mels(x: torch.Tensor) -> torch.Tensor:
    """(B, 10000, 20) EEG in EEG_COLUMNS order → (B, 4, 128, 256) float32 mel images in REGIONS order, on x's device."""
    if x.ndim != 3 or tuple(x.shape[1:]) != (EEG_WINDOW, len(EEG_COLUMNS)):
        raise ValueError(f'x must be (B, {EEG_WINDOW}, {len(EEG_COLUMNS)}) in EEG_COLUMNS order, got {tuple(x.shape)}')
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    kernels, work = _kernels(x.device, dtype), _workspace(x.device, dtype)
    chunk = _CPU_CHUNK if x.device.type == 'cpu' else _CHUNK
    out = torch.empty(len(x), len(REGIONS), N_MELS, N_TIME, device=x.device)
    for i in range(0, len(x), chunk): _chunk(x[i:i + chunk], out[i:i + chunk], kernels, work)
    return out


def eeg_image(eeg: np.ndarray) -> np.ndarray:
    """One (10000, 20) EEG window → its (4, 128, 256) float32 mel image (numpy in, numpy out)."""
    return eeg_mels(torch.from_numpy(np.asarray(eeg, np.float32))[None])[0].numpy()
