"""The 8-channel image: the Kaggle-spectrogram half, stacking with the EEG half, and channel lookup."""
import warnings

import numpy as np

from .constants import CHANNELS, IMAGE_SHAPE, REGIONS, SPEC_COLUMNS, SPEC_WINDOW

__all__ = ['spec_row', 'spec_image', 'image_channels', 'channel_index']

_LO, _HI = np.exp(-4), np.exp(8)  # clip range of the spectrogram power before the log
_ROW_PAD, _TIME_CUT = 14, 22      # image rows left empty at top and bottom; time columns cut at each end


def spec_row(min_offset: float, max_offset: float) -> int:
    """First spectrogram row of a train crop, from an eeg-level row's min/max spectrogram offset (seconds)."""
    return int((min_offset + max_offset) // 4)


def _crop(spec: np.ndarray, row: int) -> np.ndarray:
    """Rows `row:row+SPEC_WINDOW` of `spec` as float64, padded with NaN past the end of the file."""
    out = np.full((SPEC_WINDOW, spec.shape[1]), np.nan)
    part = spec[row:row + SPEC_WINDOW]
    out[:len(part)] = part
    return out


def spec_image(spec: np.ndarray, row: int) -> np.ndarray:
    """Kaggle half of the image: (4, 128, 256) float32, REGIONS order, from the 300 rows of `spec` at `row`."""
    if spec.ndim != 2 or spec.shape[1] != len(SPEC_COLUMNS):
        raise ValueError(f'spec must be (T, {len(SPEC_COLUMNS)}) in SPEC_COLUMNS order, got {spec.shape}')
    if row < 0: raise ValueError(f'row must be >= 0, got {row}')
    nr, nf = len(REGIONS), len(SPEC_COLUMNS) // len(REGIONS)
    x = _crop(spec, row).reshape(SPEC_WINDOW, nr, nf).transpose(1, 2, 0)  # (region, freq, time)
    x = np.log(np.clip(x, _LO, _HI))
    with warnings.catch_warnings():  # an all-NaN region warns; its NaN mean/std give NaN, then 0 below
        warnings.simplefilter('ignore', RuntimeWarning)
        m, s = np.nanmean(x, axis=(1, 2), keepdims=True), np.nanstd(x, axis=(1, 2), keepdims=True)
    x = np.nan_to_num((x - m) / (s + 1e-6), nan=0.0)
    out = np.zeros((nr, *IMAGE_SHAPE), np.float32)
    out[:, _ROW_PAD:-_ROW_PAD] = x[:, :, _TIME_CUT:-_TIME_CUT] / 2.0
    return out


def image_channels(spec_img: np.ndarray, eeg_img: np.ndarray) -> np.ndarray:
    """Stack the Kaggle half and the EEG half into one (8, 128, 256) float32 image in CHANNELS order."""
    half = (len(REGIONS), *IMAGE_SHAPE)
    for name, a in (('spec_img', spec_img), ('eeg_img', eeg_img)):
        if a.shape != half: raise ValueError(f'{name} must have shape {half}, got {a.shape}')
    return np.concatenate([spec_img, eeg_img]).astype(np.float32, copy=False)


def channel_index(names) -> list[int]:
    """Indices in CHANNELS of the channel `names` (a name or a list of names), in the order given."""
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in CHANNELS]
    if unknown: raise ValueError(f'unknown channel name(s) {unknown}; known: {CHANNELS}')
    return [CHANNELS.index(n) for n in names]
