"""The 8-channel image: the Kaggle-spectrogram half (batched in torch), the EEG half's mels, and the two assembled."""
import numpy as np
import torch

from ..core.constants import CHANNELS, IMAGE_SHAPE, REGIONS, SPEC_COLUMNS, SPEC_STEP, SPEC_WINDOW
from .eegspec import bipolar_mels

__all__ = ['SPEC_LOG_RANGE', 'spec_log', 'spec_row', 'spec_window', 'spec_images', 'spec_image', 'assemble',
           'image_channels', 'channel_index']

SPEC_LOG_RANGE = (-4.0, 8.0)      # the recipe clips spectrogram power to [e^-4, e^8] before the log
_LO, _HI = (np.float32(np.exp(v)) for v in SPEC_LOG_RANGE)
_ROW_PAD, _TIME_CUT = 14, 22      # image rows left empty at top and bottom; time columns cut at each end


def spec_log(power: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Log of spectrogram power clipped to the recipe's range [e^-4, e^8]; `out=power` works in place."""
    return np.log(np.clip(power, _LO, _HI, out=out), out=out)


def spec_row(offset_seconds: float) -> int:
    """First spectrogram row of a crop starting `offset_seconds` into the file (2 s rows; the centre: the min/max mean)."""
    return int(offset_seconds // SPEC_STEP)


def spec_window(spec: np.ndarray, row: int) -> np.ndarray:
    """Rows `row:row+SPEC_WINDOW` of `spec` as float32, padded with NaN past the end of the file."""
    part = np.asarray(spec[row:row + SPEC_WINDOW], np.float32)
    if len(part) == SPEC_WINDOW: return part
    out = np.full((SPEC_WINDOW, spec.shape[1]), np.nan, np.float32)
    out[:len(part)] = part
    return out


def spec_images(crops: torch.Tensor) -> torch.Tensor:
    """(B, 300, 400) raw Kaggle-spectrogram crops (NaN allowed) → the (B, 4, 128, 256) float32 Kaggle half, on their device."""
    if crops.ndim != 3 or tuple(crops.shape[1:]) != (SPEC_WINDOW, len(SPEC_COLUMNS)):
        raise ValueError(f'crops must be (B, {SPEC_WINDOW}, {len(SPEC_COLUMNS)}) in SPEC_COLUMNS order, got {tuple(crops.shape)}')
    b, nr = len(crops), len(REGIONS)
    x = crops.float().clamp(float(_LO), float(_HI)).log_().view(b, SPEC_WINDOW, nr, -1)   # (B, time, region, freq); NaN stays
    nan = x.isnan()
    if nan.any():                     # nanmean / nanstd over each region's time × freq values; NaN → 0
        n = (~nan).sum((1, 3), keepdim=True).clamp_(min=1)
        d = x - x.nan_to_num(0.0).sum((1, 3), keepdim=True) / n
        d.masked_fill_(nan, 0.0)
        std = (d.square().sum((1, 3), keepdim=True) / n).sqrt_()
    else:
        d = x - x.mean((1, 3), keepdim=True)
        std = d.square().mean((1, 3), keepdim=True).sqrt_()
    z = d.div_(std.add_(1e-6)).mul_(0.5)
    out = crops.new_zeros((b, nr, *IMAGE_SHAPE), dtype=torch.float32)
    out[:, :, _ROW_PAD:-_ROW_PAD] = z[:, _TIME_CUT:-_TIME_CUT].permute(0, 2, 3, 1)
    return out


def spec_image(spec: np.ndarray, row: int) -> np.ndarray:
    """Kaggle half of the image: (4, 128, 256) float32, REGIONS order, from the 300 rows of `spec` at `row` (numpy)."""
    if spec.ndim != 2 or spec.shape[1] != len(SPEC_COLUMNS):
        raise ValueError(f'spec must be (T, {len(SPEC_COLUMNS)}) in SPEC_COLUMNS order, got {spec.shape}')
    if row < 0: raise ValueError(f'row must be >= 0, got {row}')
    return spec_images(torch.from_numpy(spec_window(spec, row))[None])[0].numpy()


def assemble(raw: dict) -> torch.Tensor:
    """Raw signals (`spec` crops, `eeg` bipolar windows or `mel` images, `pick`: channels of them) → (B, C, 128, 256) images."""
    halves = []
    if 'spec' in raw: halves.append(spec_images(raw['spec']))
    if 'mel' in raw: halves.append(raw['mel'].float())
    elif 'eeg' in raw: halves.append(bipolar_mels(raw['eeg']))
    full = torch.cat(halves, 1)                               # the halves present, in CHANNELS order
    return full if full.shape[1] == len(raw['pick']) else full[:, raw['pick']]


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
