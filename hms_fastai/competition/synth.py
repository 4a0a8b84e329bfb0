"""Competition-format synthetic HMS data whose true vote probabilities are known."""
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sfft
from scipy.signal import resample_poly

from ..core.atomic import atomic_path
from ..core.constants import BIPOLAR, CLASSES, EEG_COLUMNS, EEG_RATE, SPEC_COLUMNS, SPEC_STEP, TARGETS
from ..core.errors import HMSDataError
from .score import target_frame

__all__ = ['make_synthetic']

RATE = 50                   # Hz of a recording's shared signal (the Kaggle spectrogram stops at 19.92 Hz)
PAD = 6                     # seconds of signal before 0 and after the end of a recording, for the edge frames
SEG, NFFT = 4, 256          # Welch segments: 4 s Hann, 2 s hop, 4 per 10 s frame; bins of 50/256 Hz
BINS = slice(3, 103)        # rfft bins 3..102 at 50/256 Hz are SPEC_FREQS 0.59 … 19.92
HEAD = 275                  # a label's EEG window starts 275 s after its spectrogram window (centres agree)
SPEC_GAIN = 0.06            # brings the PSD (µV²/Hz) to the real files' range (~1e-2 … 1e3)
AMPS = np.array([70., 250., 250., 130., 100.])   # µV of the Seizure, LPD, GPD, LRDA, GRDA patterns at p = 1
GAPS = 0.1                  # chance that a file gets NaN gaps (EEG: 1–2 runs of 0.5–5 s; spectrogram: 5–30 rows)
CLASS_FREQ = [0.2, 0.14, 0.16, 0.16, 0.18, 0.16]  # how often each class dominates a recording

_CH = {c: i for i, c in enumerate(EEG_COLUMNS[:-1])}
_SIDES = np.array([[_CH[c] for c in ('Fp1', 'F3', 'C3', 'P3', 'F7', 'T3', 'T5', 'O1')],
                   [_CH[c] for c in ('Fp2', 'F4', 'C4', 'P4', 'F8', 'T4', 'T6', 'O2')]])
_MID = [_CH[c] for c in ('Fz', 'Cz', 'Pz')]
_PAIRS = np.array([[_CH[a], _CH[b]] for a, b in BIPOLAR])
_HANN = np.hanning(SEG * RATE + 1)[:-1].astype(np.float32)
_PSD_SCALE = 2 * SPEC_GAIN / (RATE * float((_HANN ** 2).sum()))   # |rfft|² → one-sided PSD, times SPEC_GAIN


def _unique_ids(rng, n: int, low: int, high: int) -> np.ndarray:
    """`n` distinct random-looking integers in [low, high)."""
    return rng.choice(high - low, size=n, replace=False).astype(np.int64) + low


def _group_cumsum(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each group of consecutive `sizes` elements."""
    c = np.cumsum(values)
    starts = np.cumsum(sizes) - sizes
    return c - np.repeat(c[starts] - values[starts], sizes)


def _draw_probs(rng, dominant: np.ndarray) -> np.ndarray:
    """Latent class probabilities: mostly one dominant class, sometimes a flat mixture."""
    alpha = np.where(np.arange(6) == dominant[:, None], 3.25, 0.25)
    alpha[rng.random(len(dominant)) < 0.15] = 1.0
    g = rng.gamma(alpha)
    return g / g.sum(axis=1, keepdims=True)


def _draw_totals(rng, n: int, expert: bool = False) -> np.ndarray:
    """Total votes like the real data: many 1–3, some 4–9, about a third ≥ 10 (only those if `expert`)."""
    many = np.minimum(10 + rng.poisson(5, n), 28)
    if expert: return many
    kind = rng.choice(3, n, p=[0.55, 0.12, 0.33])
    return np.choose(kind, [rng.integers(1, 4, n), rng.integers(4, 10, n), many])


def _train_layout(rng, n: int) -> tuple:
    """Recordings, eegs and label rows of the train split, as (recordings, eegs, rows) dicts of arrays."""
    rec = np.repeat(np.arange(n), rng.choice([1, 2, 3], n, p=[0.5, 0.3, 0.2]))[:n]
    n_rec = rec[-1] + 1
    patient = np.repeat(np.arange(n_rec), rng.choice([1, 2, 3], n_rec, p=[0.4, 0.35, 0.25]))[:n_rec]
    n_sub = np.minimum(rng.geometric(0.3, n), 12)
    eeg = np.repeat(np.arange(n), n_sub)
    steps = 2 * rng.geometric(0.6, len(eeg))
    steps[np.cumsum(n_sub) - n_sub] = 0
    offset = _group_cumsum(steps, n_sub)
    max_off = offset[np.cumsum(n_sub) - 1]
    length = max_off + 50 + np.where(rng.random(n) < 0.3, 2 * rng.integers(1, 11, n), 0)
    per_rec = np.bincount(rec, minlength=n_rec)
    first = np.cumsum(per_rec) - per_rec
    step = np.r_[0, length[:-1]] + 2 * rng.integers(5, 100, n)
    step[first] = np.where(rng.random(n_rec) < 0.5, 0, 2 * rng.integers(1, 31, n_rec))
    start = _group_cumsum(step, per_rec)
    rec_len = np.maximum.reduceat(start + max_off, first) + 600 + 2 * rng.integers(0, 31, n_rec)
    sub_in_rec = _group_cumsum(np.ones(len(eeg), np.int64), np.bincount(rec[eeg], minlength=n_rec)) - 1
    dominant = np.where(rng.random(n) < 0.75, rng.choice(6, n_rec, p=CLASS_FREQ)[rec], rng.choice(6, n, p=CLASS_FREQ))
    return (dict(length=rec_len, patient=patient, first=first, count=per_rec),
            dict(rec=rec, start=start, length=length, probs=_draw_probs(rng, dominant), totals=_draw_totals(rng, n)),
            dict(eeg=eeg, sub=_group_cumsum(np.ones(len(eeg), np.int64), n_sub) - 1, offset=offset,
                 spec_offset=start[eeg] + offset, spec_sub=sub_in_rec))


def _test_layout(rng, m: int) -> tuple:
    """Recordings and eegs of the test split: one exactly 600 s recording per 50 s eeg."""
    patient = np.repeat(np.arange(m), rng.choice([1, 2, 3], m, p=[0.4, 0.35, 0.25]))[:m]
    dominant = rng.choice(6, m, p=CLASS_FREQ)
    return (dict(length=np.full(m, 600), patient=patient, first=np.arange(m), count=np.ones(m, np.int64)),
            dict(rec=np.arange(m), start=np.zeros(m, np.int64), length=np.full(m, 50),
                 probs=_draw_probs(rng, dominant), totals=_draw_totals(rng, m, expert=True)))


def _pink(rng, n_ch: int, n: int, alpha: float = 1.7) -> np.ndarray:
    """`n_ch` unit-variance noises of `n` samples at RATE with power ∝ 1/f^alpha (flat below 0.3 Hz)."""
    m = sfft.next_fast_len(n, real=True)
    f = sfft.rfftfreq(m, 1 / RATE)
    shape = (f ** 2 + 0.09) ** (-alpha / 4)
    shape = (shape / np.sqrt(np.mean(shape ** 2))).astype(np.float32)
    spec = rng.standard_normal((n_ch, len(f)), np.float32) + 1j * rng.standard_normal((n_ch, len(f)), np.float32)
    return sfft.irfft(spec * (shape / np.sqrt(2)), n=m, norm='ortho', axis=1)[:, :n]


def _rhythm(rng, t: np.ndarray, lo: float, hi: float, harmonic: float) -> np.ndarray:
    """A rhythm whose frequency wanders between `lo` and `hi` Hz (new target every ~15 s), with a second harmonic."""
    knots = np.arange(t[0], t[-1] + 15, 15)
    freq = np.interp(t, knots, rng.uniform(lo, hi, len(knots)))
    phase = 2 * np.pi * np.cumsum(freq) / RATE + rng.uniform(0, 2 * np.pi)
    return np.sin(phase) + harmonic * np.sin(2 * phase)


def _pulses(rng, n: int, rate: int, period: float, jitter: float) -> np.ndarray:
    """An impulse train of `n` samples at `rate`: one pulse every `period` s, each interval jittered by `jitter`."""
    count = int(n / rate / period / (1 - 3 * jitter)) + 2
    times = np.cumsum(period * (1 + jitter * rng.standard_normal(count))) - rng.uniform(0, period)
    idx = np.round(times * rate).astype(np.int64)
    return np.bincount(idx[(idx >= 0) & (idx < n)], minlength=n).astype(np.float32)


def _bumps(k: np.ndarray, shapes: list) -> np.ndarray:
    """Sum of Gaussian bumps (height, centre, width) evaluated at times `k`."""
    return sum(h * np.exp(-((k - c) / w) ** 2) for h, c, w in shapes)


def _discharges(rng, n: int) -> np.ndarray:
    """Periodic sharp discharges (~1 Hz, jittered): spike then slow wave, of `n` samples at RATE."""
    kernel = _bumps(np.arange(-0.2, 0.6, 1 / RATE), [(-1.4, 0, 0.035), (0.5, 0.22, 0.09)])
    return np.convolve(_pulses(rng, n, RATE, rng.uniform(0.8, 1.5), 0.08), kernel, mode='same')


def _artefacts(rng, t: np.ndarray) -> np.ndarray:
    """Electrode pops (19, len(t)): a few large brief bumps on distinct electrodes; the rare huge spectrogram values."""
    k = min(rng.poisson(len(t) / RATE / 150), 19)
    out = np.zeros((19, len(t)), np.float32)
    out[rng.choice(19, k, replace=False)] = rng.choice([-1, 1], (k, 1)) * rng.uniform(150, 600, (k, 1)) * np.exp(
        -((t - rng.uniform(t[0], t[-1], (k, 1))) / rng.uniform(0.15, 1.0, (k, 1))) ** 2)
    return out


def _gains(rng, side: int) -> np.ndarray:
    """Electrode gains (5 patterns × 19 electrodes): uneven so bipolar differences see them, lateralised where due."""
    lat = np.full(19, 0.15)
    lat[_SIDES[side]], lat[_MID] = 1.0, 0.4
    seiz = np.full(19, 1.0)
    seiz[_SIDES[1 - side]] = 0.6
    return rng.uniform(0.0, 1.0, (5, 19)) * np.stack([seiz, lat, np.ones(19), lat, np.ones(19)])


def _signal(rng, seconds: int, centres: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """A recording's 19 electrodes (µV at RATE) from -PAD to seconds+PAD: background plus each eeg's patterns."""
    n = (seconds + 2 * PAD) * RATE
    t = np.arange(n) / RATE - PAD
    noise = 20 * _pink(rng, 20, n)
    delta = rng.uniform(1, 2.5)
    waves = np.stack([_rhythm(rng, t, 3, 8, 0.35), _discharges(rng, n), _discharges(rng, n),
                      _rhythm(rng, t, delta, delta + 0.5, 0.25), _rhythm(rng, t, delta, delta + 0.5, 0.25)])
    owner = np.searchsorted((centres[1:] + centres[:-1]) / 2, t)
    amp = AMPS[:, None] * probs[owner, :5].T
    patterns = np.einsum('ce,ct->et', _gains(rng, rng.integers(2)), amp * waves)
    return (noise[:19] + noise[19] + _artefacts(rng, t) + patterns).astype(np.float32)


def _kaggle_spectrogram(sig: np.ndarray, seconds: int) -> np.ndarray:
    """Kaggle-style (seconds/2, 400) spectrogram: per 2 s, 10 s PSD of each region's 4 differences, averaged."""
    diffs = sig[_PAIRS[:, 0]] - sig[_PAIRS[:, 1]]
    first = (PAD - 4) * RATE
    segs = sliding_window_view(diffs, SEG * RATE, axis=1)[:, first::SPEC_STEP * RATE][:, :seconds // 2 + 3]
    power = np.abs(sfft.rfft(segs * _HANN, n=NFFT, axis=-1)[..., BINS]) ** 2 * _PSD_SCALE
    frames = (power[:, :-3] + power[:, 1:-2] + power[:, 2:-1] + power[:, 3:]) / 4
    return frames.reshape(4, 4, -1, 100).mean(axis=1).transpose(1, 0, 2).reshape(-1, 400)


def _ekg(rng, n: int) -> np.ndarray:
    """An EKG-like trace of `n` samples at EEG_RATE: QRS complexes and T waves at 55–100 bpm."""
    kernel = _bumps(np.arange(-0.1, 0.4, 1 / EEG_RATE), [(1, 0, 0.012), (-0.25, 0.03, 0.015), (0.2, 0.25, 0.05)])
    beats = np.convolve(_pulses(rng, n, EEG_RATE, 60 / rng.uniform(55, 100), 0.03), kernel, mode='same')
    return rng.choice([-1, 1]) * rng.uniform(300, 3000) * beats + 20 * rng.standard_normal(n)


def _eeg(rng, sig: np.ndarray, start: int, seconds: int) -> np.ndarray:
    """The (20, seconds·200) EEG file cut from a recording at `start` s: upsampled, white noise, offsets, EKG."""
    lo = (start + PAD - 1) * RATE
    up = resample_poly(sig[:, lo:lo + (seconds + 2) * RATE], EEG_RATE // RATE, 1, axis=1)
    up = up[:, EEG_RATE:(seconds + 1) * EEG_RATE]
    eeg = up + 2 * rng.standard_normal(up.shape, np.float32) + rng.normal(0, 25, (19, 1)).astype(np.float32)
    return np.vstack([eeg, _ekg(rng, seconds * EEG_RATE)[None]])


def _nan_rows(rng, n: int, lo: int, hi: int) -> slice:
    """A random run of `lo`…`hi` rows inside `n` rows."""
    size = min(int(rng.integers(lo, hi + 1)), n // 2)
    a = int(rng.integers(0, n - size + 1))
    return slice(a, a + size)


def _write_parquet(path: Path, columns: dict):
    """Write named 1-d arrays as one parquet file (NaN stored as null, like the Kaggle files), atomically."""
    table = pa.table({k: pa.array(v, from_pandas=True) for k, v in columns.items()})
    with atomic_path(path) as tmp: pq.write_table(table, tmp, use_dictionary=False)


def _write_recording(root: Path, split: str, rng, spec_id: int, seconds: int, eeg_ids, starts, lengths, probs,
                     force_gaps: bool):
    """Generate one recording; write its spectrogram and the eeg files cut from it, some with NaN gaps."""
    sig = _signal(rng, seconds, starts + HEAD + lengths / 2, probs)
    spec = np.maximum(np.round(_kaggle_spectrogram(sig, seconds), 2), 0.01).astype(np.float32)
    if rng.random() < GAPS or force_gaps: spec[_nan_rows(rng, len(spec), 5, 30)] = np.nan
    time = np.arange(1, seconds, SPEC_STEP, dtype=np.int16 if split == 'test' else np.int64)
    _write_parquet(root / f'{split}_spectrograms' / f'{spec_id}.parquet',
                   {'time': time, **dict(zip(SPEC_COLUMNS, np.ascontiguousarray(spec.T)))})
    for i, eeg_id in enumerate(eeg_ids):
        x = np.round(_eeg(rng, sig, int(starts[i]) + HEAD, int(lengths[i])), 2).astype(np.float32)
        if rng.random() < GAPS or (force_gaps and i == 0):
            for _ in range(rng.integers(1, 3)): x[:, _nan_rows(rng, x.shape[1], EEG_RATE // 2, 5 * EEG_RATE)] = np.nan
        _write_parquet(root / f'{split}_eegs' / f'{eeg_id}.parquet', dict(zip(EEG_COLUMNS, x)))


def _write_signals(root: Path, split: str, seed: int, recs: dict, eegs: dict, spec_ids, eeg_ids, force_gaps: bool):
    """Write every recording of a split on a few threads, each from its own seeded generator (order-independent)."""
    def one(r):
        a, k = recs['first'][r], recs['count'][r]
        s = slice(a, a + k)
        _write_recording(root, split, np.random.default_rng([seed, 0 if split == 'train' else 1, r]), spec_ids[r],
                         int(recs['length'][r]), eeg_ids[s], eegs['start'][s], eegs['length'][s], eegs['probs'][s],
                         force_gaps and r == 0)
    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as ex: list(ex.map(one, range(len(recs['length']))))


def _write_csv(path: Path, df: pd.DataFrame):
    """Write a csv without index, atomically."""
    with atomic_path(path) as tmp: df.to_csv(tmp, index=False)


def _train_csv(recs: dict, eegs: dict, rows: dict, votes: np.ndarray, eeg_ids, spec_ids, pat_ids, label_ids):
    """train.csv: one row per label, votes repeated over an eeg's rows, sorted by spectrogram like the real file."""
    e, rec = rows['eeg'], eegs['rec'][rows['eeg']]
    df = pd.DataFrame({'eeg_id': eeg_ids[e], 'eeg_sub_id': rows['sub'],
                       'eeg_label_offset_seconds': rows['offset'].astype(float),
                       'spectrogram_id': spec_ids[rec], 'spectrogram_sub_id': rows['spec_sub'],
                       'spectrogram_label_offset_seconds': rows['spec_offset'].astype(float), 'label_id': label_ids,
                       'patient_id': pat_ids[recs['patient'][rec]],
                       'expert_consensus': np.array(CLASSES)[votes.argmax(axis=1)][e],
                       **dict(zip(TARGETS, votes[e].T))})
    return df.iloc[np.argsort(df.spectrogram_id.to_numpy(), kind='stable')].reset_index(drop=True)


def make_synthetic(out, n_eegs: int = 200, n_test: int = 50, seed: int = 0) -> Path:
    """Write a synthetic competition folder, test_solution.csv and test_oracle.csv into `out`; same seed, same bytes."""
    if n_eegs < 1 or n_test < 1:
        raise HMSDataError('make_synthetic', f'needs ≥ 1 train and test eeg, got {n_eegs}, {n_test}')
    if seed < 0: raise HMSDataError('make_synthetic', f'seed must be ≥ 0, got {seed}')
    out = Path(out)
    if out.exists() and not out.is_dir(): raise HMSDataError(out, 'exists and is not a folder')
    if out.is_dir() and any(out.iterdir()) and not (out / 'test_oracle.csv').is_file():   # only synth writes that file
        raise HMSDataError(out, 'holds files that are not a previous synthetic output: use an empty or new folder')
    rng = np.random.default_rng([seed, 2])
    recs, eegs, rows = _train_layout(rng, n_eegs)
    t_recs, t_eegs = _test_layout(rng, n_test)
    n_rec, n_pat, t_pat = len(recs['length']), recs['patient'][-1] + 1, t_recs['patient'][-1] + 1
    eeg_ids = _unique_ids(rng, n_eegs + n_test, 100_000, 2 ** 32)
    spec_ids = _unique_ids(rng, n_rec + n_test, 100_000, 2 ** 31)
    pat_ids = _unique_ids(rng, n_pat + t_pat, 1, max(65_536, 4 * (n_pat + t_pat)))
    label_ids = _unique_ids(rng, len(rows['eeg']), 10_000, 2 ** 32)
    votes = rng.multinomial(eegs['totals'], eegs['probs'])
    t_votes = rng.multinomial(t_eegs['totals'], t_eegs['probs'])
    _write_signals(out, 'train', seed, recs, eegs, spec_ids[:n_rec], eeg_ids[:n_eegs], force_gaps=True)
    _write_signals(out, 'test', seed, t_recs, t_eegs, spec_ids[n_rec:], eeg_ids[n_eegs:], force_gaps=False)
    _write_csv(out / 'train.csv', _train_csv(recs, eegs, rows, votes, eeg_ids, spec_ids, pat_ids, label_ids))
    test_ids = eeg_ids[n_eegs:]
    _write_csv(out / 'test.csv', pd.DataFrame({'spectrogram_id': spec_ids[n_rec:], 'eeg_id': test_ids,
                                               'patient_id': pat_ids[n_pat + t_recs['patient']]}))
    _write_csv(out / 'sample_submission.csv', target_frame(test_ids, np.full((n_test, 6), 1 / 6)))
    _write_csv(out / 'test_solution.csv', target_frame(test_ids, t_votes / t_votes.sum(axis=1, keepdims=True)))
    _write_csv(out / 'test_oracle.csv', target_frame(test_ids, t_eegs['probs']))
    return out
