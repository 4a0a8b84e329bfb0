"""Pictures: the 8-channel image as labelled panels, and an EEG window as a double-banana montage."""
import warnings

import numpy as np
from matplotlib.figure import Figure

from ..core.constants import CHANNELS, EEG_COLUMNS, EEG_RATE, EEG_WINDOW, HALVES, MONTAGE, REGIONS, SPEC_COLUMNS, SPEC_FREQS, SPEC_STEP
from ..core.errors import HMSDataError
from .image import SPEC_LOG_RANGE, spec_log

__all__ = ['show_image', 'plot_eeg']

_SOURCES = {'spec': 'Kaggle', 'eeg': 'EEG mel'}
_READING_ORDER = ['LL', 'LP', 'RP', 'RL']  # how clinicians read the double banana, top to bottom


def _panel_title(name: str) -> str:
    """'spec_LL' -> 'Kaggle LL', 'eeg_RP' -> 'EEG mel RP'; other names unchanged."""
    part = next((p for p, half in HALVES.items() if name in half), None)
    return f'{_SOURCES[part]} {REGIONS[HALVES[part].index(name)]}' if part else name


def show_image(img, title: str | None = None, axs=None, channels: list[str] | None = None) -> Figure:
    """Draw a (C, 128, 256) image (numpy or torch) as C labelled panels, 4 per row, with one colour bar."""
    img = np.asarray(img.detach().cpu() if hasattr(img, 'detach') else img, dtype=np.float32)
    n = len(img)
    channels = CHANNELS[:n] if channels is None else list(channels)
    if len(channels) != n: raise ValueError(f'{n} channels but {len(channels)} names: {channels}')
    own = axs is None
    if own:
        ncols = min(n, 4)
        fig = Figure(figsize=(4 * ncols + 1, 2.6 * -(-n // ncols)), layout='constrained')
        axs = fig.subplots(-(-n // ncols), ncols, squeeze=False)  # -(-n // c): n / c rounded up
    axs = np.asarray(axs).ravel()
    if len(axs) < n: raise ValueError(f'{n} channels need {n} axes, got {len(axs)}')
    fig = axs[0].get_figure()
    lo, hi = np.nanmin(img), np.nanmax(img)
    for ax, ch, name in zip(axs, img, channels):
        im = ax.imshow(ch, origin='lower', aspect='auto', cmap='viridis', vmin=lo, vmax=hi)
        ax.set_title(_panel_title(name))
        ax.set_xlabel('time column')
        ax.set_ylabel('frequency row')
        if own: ax.label_outer()
    fig.colorbar(im, ax=list(axs[:n]), fraction=0.02, pad=0.01)
    if title: fig.suptitle(title)
    return fig


def _montage(eeg: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Names and traces (16, samples) of the bipolar pairs along CHAINS, in clinical reading order."""
    col = {c: i for i, c in enumerate(EEG_COLUMNS)}
    pairs = [pair for r in _READING_ORDER for pair in MONTAGE[r]]
    a, b = (np.array([col[p[i]] for p in pairs]) for i in (0, 1))
    return [f'{x}-{y}' for x, y in pairs], (eeg[:, a] - eeg[:, b]).T


def _robust_span(x: np.ndarray) -> float:
    """Typical size of traces `x`: median 1-99 percentile range (full range where that is 0), else 1."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        lo, hi = np.nanpercentile(x, [1, 99], axis=-1)
        full = np.nanmax(x, axis=-1) - np.nanmin(x, axis=-1)
        span = np.nanmedian(np.where(hi > lo, hi - lo, full))
    return float(span) if np.isfinite(span) and span > 0 else 1.0


def _centred(x: np.ndarray) -> np.ndarray:
    """Traces minus their own median (all-NaN traces stay NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        return x - np.nanmedian(x, axis=-1, keepdims=True)


def _draw_montage(ax, eeg: np.ndarray, offset: float):
    """The 16 bipolar traces in 4 groups plus EKG, one shared µV scale, time in seconds from `offset`."""
    names, traces = _montage(eeg)
    ekg = eeg[:, EEG_COLUMNS.index('EKG')][None]
    span, ekg_span = _robust_span(traces), _robust_span(ekg)
    ys = -(np.arange(len(names)) + np.arange(len(names)) // 4)  # a blank line between the 4 chains
    t = offset + np.arange(len(eeg)) / EEG_RATE
    ax.plot(t, (_centred(traces) / span + ys[:, None]).T, lw=0.4, color='k')
    y_ekg = ys[-1] - 2
    ax.plot(t, _centred(ekg)[0] / ekg_span + y_ekg, lw=0.4, color='tab:red')
    ax.axvspan(offset + 20, offset + 30, color='tab:orange', alpha=0.12, lw=0)  # the labelled 10 s
    ax.set_yticks([*ys, y_ekg], [*names, 'EKG'])
    ax.set_ylim(y_ekg - 1.5, 1.5)
    ax.set_xlim(t[0], t[-1])
    ax.set_xlabel('time (s)')
    ax.set_title(f'double banana montage (row spacing {span:.0f} µV; EKG {ekg_span:.0f} µV)')


def _draw_spec(axs, fig, spec: np.ndarray):
    """The 4 regions of a (T, 400) Kaggle spectrogram window as log-power panels, frequency up."""
    if spec.ndim != 2 or spec.shape[1] != len(SPEC_COLUMNS):
        raise ValueError(f'spec must be (T, {len(SPEC_COLUMNS)}) in SPEC_COLUMNS order, got {spec.shape}')
    logs = spec_log(spec.astype(np.float32).reshape(len(spec), len(REGIONS), -1))
    freqs = np.array(SPEC_FREQS, dtype=float)
    extent = (0, len(spec) * SPEC_STEP, freqs[0], freqs[-1])
    for ax, region in zip(axs, _READING_ORDER):
        im = ax.imshow(logs[:, REGIONS.index(region)].T, origin='lower', aspect='auto', cmap='magma',
                       extent=extent, vmin=SPEC_LOG_RANGE[0], vmax=SPEC_LOG_RANGE[1])
        ax.set_title(f'Kaggle {region}')
        ax.set_ylabel('Hz')
    axs[-1].set_xlabel('time in window (s)')
    fig.colorbar(im, ax=list(axs), fraction=0.05, pad=0.01, label='log power')


def plot_eeg(eeg: np.ndarray, spec: np.ndarray | None = None, eeg_id=None, offset: float = 0.0,
             title: str | None = None) -> Figure:
    """Draw the 50 s window `offset` seconds into `eeg` as a montage, beside spectrogram window `spec` if given."""
    eeg, start, where = np.asarray(eeg), int(round(offset * EEG_RATE)), 'eeg' if eeg_id is None else eeg_id
    if eeg.ndim != 2 or eeg.shape[1] != len(EEG_COLUMNS):
        raise HMSDataError(where, f'EEG must be (samples, {len(EEG_COLUMNS)}) in EEG_COLUMNS order, not {eeg.shape}')
    if offset < 0 or len(eeg) < start + EEG_WINDOW:
        raise HMSDataError(where, f'{len(eeg)} samples cannot hold the 50 s window at {offset:g} s')
    window = eeg[start:start + EEG_WINDOW]
    fig = Figure(figsize=(20 if spec is not None else 14, 10), layout='constrained')
    if spec is None: _draw_montage(fig.subplots(), window, offset)
    else:
        gs = fig.add_gridspec(4, 2, width_ratios=(2, 1))
        _draw_montage(fig.add_subplot(gs[:, 0]), window, offset)
        _draw_spec([fig.add_subplot(gs[i, 1]) for i in range(4)], fig, np.asarray(spec))
    fig.suptitle(title or ('EEG' if eeg_id is None else f'EEG {eeg_id}') + f' at {offset:g} s')
    return fig
