"""The 8-channel image: the Kaggle-spectrogram half, stacking with the EEG half, and channel lookup."""
import numpy as np

from ..core.constants import CHANNELS, IMAGE_SHAPE, REGIONS, SPEC_COLUMNS, SPEC_WINDOW

__all__ = ['SPEC_LOG_RANGE', 'spec_log', 'spec_row', 'spec_window', 'spec_image', 'image_channels', 'channel_index']

SPEC_LOG_RANGE = (-4.0, 8.0)      # the recipe clips spectrogram power to [e^-4, e^8] before the log
_LO, _HI = (np.float32(np.exp(v)) for v in SPEC_LOG_RANGE)
_ROW_PAD, _TIME_CUT = 14, 22      # image rows left empty at top and bottom; time columns cut at each end


def spec_log(power: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Log of spectrogram power clipped to the recipe's range [e^-4, e^8]; `out=power` works in place."""
    return np.log(np.clip(power, _LO, _HI, out=out), out=out)


def spec_row(min_offset: float, max_offset: float) -> int:
    """First spectrogram row of a train crop, from an eeg-level row's min/max spectrogram offset (seconds)."""
    return int((min_offset + max_offset) // 4)


def spec_window(spec: np.ndarray, row: int) -> np.ndarray:
    """Rows `row:row+SPEC_WINDOW` of `spec` as float32, padded with NaN past the end of the file."""
    part = np.asarray(spec[row:row + SPEC_WINDOW], np.float32)
    if len(part) == SPEC_WINDOW: return part
    out = np.full((SPEC_WINDOW, spec.shape[1]), np.nan, np.float32)
    out[:len(part)] = part
    return out


def _standardise(x: np.ndarray) -> np.ndarray:
    """(x - nanmean) / (nanstd + 1e-6) of each region's row of x (region, values); NaN → 0."""
    nan = np.isnan(x)
    if not nan.any(): return (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + np.float32(1e-6))
    n = np.maximum((~nan).sum(1, keepdims=True), 1)
    d = np.where(nan, np.float32(0), x - np.where(nan, np.float32(0), x).sum(1, keepdims=True) / n)
    return d / (np.sqrt(np.square(d).sum(1, keepdims=True) / n) + np.float32(1e-6))


def spec_image(spec: np.ndarray, row: int) -> np.ndarray:
    """Kaggle half of the image: (4, 128, 256) float32, REGIONS order, from the 300 rows of `spec` at `row`."""
    if spec.ndim != 2 or spec.shape[1] != len(SPEC_COLUMNS):
        raise ValueError(f'spec must be (T, {len(SPEC_COLUMNS)}) in SPEC_COLUMNS order, got {spec.shape}')
    if row < 0: raise ValueError(f'row must be >= 0, got {row}')
    nr = len(REGIONS)
    x = spec_window(spec, row).reshape(SPEC_WINDOW, nr, -1).transpose(1, 2, 0).copy()  # (region, freq, time), writable
    z = _standardise(spec_log(x, out=x).reshape(nr, -1)).reshape(x.shape)
    out = np.zeros((nr, *IMAGE_SHAPE), np.float32)
    np.multiply(z[:, :, _TIME_CUT:-_TIME_CUT], np.float32(0.5), out=out[:, _ROW_PAD:-_ROW_PAD])
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
