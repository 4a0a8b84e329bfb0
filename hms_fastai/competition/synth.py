"""Competition-format synthetic HMS data whose true vote probabilities are known.

Each recording is one signal (19 electrodes at 50 Hz: pink background, rhythms and discharges whose amplitudes follow a
latent probability vector over the 6 classes); its Kaggle-style spectrogram is computed from it and its eegs' 200 Hz
files are cut from it, so the two halves agree. Experts' votes are multinomial draws from the latent probabilities.

Truth (`truth`):
- 'eeg' (default): one latent vector per eeg, held up to the midpoints between its recording's eeg centres; one vote
  draw per eeg, repeated on all its train.csv rows. test_oracle.csv: each test eeg's vector.
- 'window': on top of that, the latent vector changes at random moments (a Poisson process, one change per CHANGE_S =
  30 s on average, over the whole recording; after a change the eeg's dominant class stays half the time, else another
  class leads). A label window's truth is the latent vector averaged over its labelled central 10 s; every train.csv
  row is voted from its own window's truth (the eeg's panel size on each row), so an eeg's rows differ, as in the real
  train.csv (its eeg 2277392603 and the public EDA below: "each eeg_id can have different expert consensus").
  test_oracle.csv: each test row's window truth; test_solution.csv: its normalised votes. The same seed gives the
  same ids, offsets and recordings' layout as 'eeg'.

Layout (`layout`):
- 'kaggle' (default): train.csv, test.csv (one row per eeg), sample_submission.csv, train_eegs/, train_spectrograms/,
  test_eegs/ (50 s each), test_spectrograms/ (600 s, int16 time), plus test_solution.csv and test_oracle.csv.
- 'mlebench': the Kaggle layout's train part (the same train.csv and recordings as layout='kaggle' with the same
  n_eegs, seed, truth and the default n_test) split as openai/mle-bench's prepare.py for this competition splits Kaggle's
  train.csv: train_test_split(train.csv's spectrogram_ids in order of appearance, test_size=0.1, random_state=0).
  Written under `out`: public/train.csv (the train rows, all 15 columns), public/test.csv (spectrogram_id, eeg_id,
  patient_id: one row per label row, eeg_ids repeat), public/sample_submission.csv (the same rows, 1/6 each),
  public/{train,test}_{eegs,spectrograms}/ (full-length training recordings: the test ones are byte for byte the files
  layout='kaggle' writes into train_*), private/test.csv (the answers: the test rows, all 15 columns, raw votes) and
  private/gold_submission.csv (their votes normalised per row), as MLE-bench keeps them. MLE-bench's example_figures/
  has no synthetic counterpart. Our tools' extras go where they look for them, beside the competition files:
  public/test_solution.csv (= the gold submission) and public/test_oracle.csv (each test row's true probabilities) —
  delete both from a copy handed to an agent.

Shapes (`like`):
- None (default): small demo shapes: n_eegs eegs (200), 1–12 label rows each, 1–3 eegs per recording.
- 'competition': the real train split's counts × `scale` and its shapes, as far as they are public:
  * 106,800 label rows, 17,089 eeg_ids, 11,138 spectrogram_ids, 1,950 patients: Kaggle discussion 468010 (C. Deotte),
    quoted and asserted in a public notebook script; the same file counts and patients in the H-BAD project's README.
  * at most 743 rows per eeg (eeg_sub_id 0…742), eeg offsets 0…3,372 s, spectrogram offsets up to 17,632 s, 1…2,215
    rows per patient, each class the consensus of 15,000–20,000 rows: a public EDA script's notes on train.csv.
  * offsets are whole even seconds; steps between an eeg's consecutive offsets are mostly 2 s (23 of 37 in the first 50
    real rows), then 4–10 s, a few 18–28 s (mean 4.8 s); each spectrogram's first eeg starts at its offset 0; the gaps
    between consecutive eegs on one spectrogram are 6, 38 and 218 s: the first 50 rows of the real train.csv
    (shared/hms_real_sample/train_head50_reconstructed.csv).
  * a train EEG ends with its last label window (file length = last eeg offset + 50 s: 1628180742, 40 → 90 s) and a
    spectrogram 600 s after its last spectrogram offset (353733, 40 → 640 s): the real sample files; the data page:
    train files hold "one or more overlapping samples", EEGs ≥ 50 s, spectrograms ≥ 10 min.
  * cross-check, MLE-bench's split of the real data (an MLE-bench run's listing of its prepared folder): test.csv 9,850
    rows, 1,693 test eegs, 1,114 test spectrograms; this model's split at scale 1 gives 10,031–10,464 rows, 1,683–1,713
    eegs, 1,114 spectrograms (seeds 0–2). The real download is 26.4 GB (a public DVC pointer); scale 1 here ≈ 27 GB.
  Assumed (no public figure; chosen to meet the ones above): rows per eeg 1 + floor(lognormal(0.9, 1.3)) capped at 743
  (mean fixed at 6.25 by the counts, median 3 as in the first 50 real rows, a quarter of eegs with one row); offset steps
  2·geometric(0.6) s, with 4 % jumps of 10–60 s (mean 4.6 s; longest eeg ≈ 3,200 s); eegs per spectrogram and
  spectrograms per patient geometric (means 1.53 and 5.71 from the counts); 2·geometric gaps of mean GAP_S = 90 s
  between eegs of a spectrogram; vote totals as `_draw_totals` (many 1–3, some 4–9, a third ≥ 10). Known shortfalls:
  the longest spectrogram is ≈ 3,800 s (real: ≈ 18,000 s), a patient has at most ≈ 800 rows (real: 2,215), a
  spectrogram at most ≈ 750 (real: 1,022). Counts are drawn from one stratum each (no sampling noise), then matched
  exactly, so scale 0.06 (≈ 1k eegs) and 0.24 (≈ 4k) have the same shape. The test side (layout='kaggle') keeps n_test
  (default 50) 50 s / 600 s eegs: the hidden test set's size is not public.
"""
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
from scipy.special import ndtri

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
CHANGE_S = 30               # truth='window': mean seconds between changes of a recording's latent pattern
TRUTHS, LAYOUTS, LIKES = ('eeg', 'window'), ('kaggle', 'mlebench'), (None, 'competition')

# like='competition' (sources in the module docstring)
REAL_COUNTS = dict(eegs=17_089, rows=106_800, spectrograms=11_138, patients=1_950)   # the real train.csv
MAX_ROWS = 743              # label rows of one eeg at most (eeg_sub_id 0 … 742)
ROWS_LOGNORMAL = 0.9, 1.3   # label rows per eeg: 1 + floor(lognormal(μ, σ)): mean ≈ 6.2, median 3, a quarter with one row
JUMPS = 0.04                # share of steps between an eeg's label offsets that jump 10–60 s (the others: 2, 4, 6 … s)
GAP_S = 90                  # mean seconds from one eeg's end to the next eeg's start on the same spectrogram

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


def _tables(rng, rec, patient, first, per_rec, start, length, rec_len, eeg, n_sub, offset) -> tuple:
    """(recordings, eegs, rows) dicts of arrays of a laid-out train split; each eeg's pattern mostly its recording's."""
    n, n_rec = len(rec), len(per_rec)
    sub_in_rec = _group_cumsum(np.ones(len(eeg), np.int64), np.bincount(rec[eeg], minlength=n_rec)) - 1
    dominant = np.where(rng.random(n) < 0.75, rng.choice(6, n_rec, p=CLASS_FREQ)[rec], rng.choice(6, n, p=CLASS_FREQ))
    return (dict(length=rec_len, patient=patient, first=first, count=per_rec),
            dict(rec=rec, start=start, length=length, probs=_draw_probs(rng, dominant), totals=_draw_totals(rng, n)),
            dict(eeg=eeg, sub=_group_cumsum(np.ones(len(eeg), np.int64), n_sub) - 1, offset=offset,
                 spec_offset=start[eeg] + offset, spec_sub=sub_in_rec))


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
    return _tables(rng, rec, patient, first, per_rec, start, length, rec_len, eeg, n_sub, offset)


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


def _signal(rng, seconds: int, bounds: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """A recording's 19 electrodes (µV at RATE) from -PAD to seconds+PAD: background plus `probs[k]`'s patterns from `bounds[k-1]` to `bounds[k]` s."""
    n = (seconds + 2 * PAD) * RATE
    t = np.arange(n) / RATE - PAD
    noise = 20 * _pink(rng, 20, n)
    delta = rng.uniform(1, 2.5)
    waves = np.stack([_rhythm(rng, t, 3, 8, 0.35), _discharges(rng, n), _discharges(rng, n),
                      _rhythm(rng, t, delta, delta + 0.5, 0.25), _rhythm(rng, t, delta, delta + 0.5, 0.25)])
    amp = AMPS[:, None] * probs[np.searchsorted(bounds, t), :5].T
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


def _write_recording(root: Path, folder: str, split: str, rng, spec_id: int, seconds: int, eeg_ids, starts, lengths,
                     segments: tuple, force_gaps: bool):
    """Generate one recording; write its spectrogram and the eeg files cut from it into `folder`_*, some with NaN gaps."""
    sig = _signal(rng, seconds, *segments)
    spec = np.maximum(np.round(_kaggle_spectrogram(sig, seconds), 2), 0.01).astype(np.float32)
    if rng.random() < GAPS or force_gaps: spec[_nan_rows(rng, len(spec), 5, 30)] = np.nan
    time = np.arange(1, seconds, SPEC_STEP, dtype=np.int16 if split == 'test' else np.int64)
    _write_parquet(root / f'{folder}_spectrograms' / f'{spec_id}.parquet',
                   {'time': time, **dict(zip(SPEC_COLUMNS, np.ascontiguousarray(spec.T)))})
    for i, eeg_id in enumerate(eeg_ids):
        x = np.round(_eeg(rng, sig, int(starts[i]) + HEAD, int(lengths[i])), 2).astype(np.float32)
        if rng.random() < GAPS or (force_gaps and i == 0):
            for _ in range(rng.integers(1, 3)): x[:, _nan_rows(rng, x.shape[1], EEG_RATE // 2, 5 * EEG_RATE)] = np.nan
        _write_parquet(root / f'{folder}_eegs' / f'{eeg_id}.parquet', dict(zip(EEG_COLUMNS, x)))


def _write_signals(root: Path, split: str, seed: int, recs: dict, eegs: dict, segments: list, spec_ids, eeg_ids,
                   force_gaps: bool, folders=None):
    """Write every recording of a split on a few threads, each from its own seeded generator, under `folders[r]` (default `split`)."""
    def one(r):
        a, k = recs['first'][r], recs['count'][r]
        s = slice(a, a + k)
        _write_recording(root, split if folders is None else folders[r], split,
                         np.random.default_rng([seed, 0 if split == 'train' else 1, r]), spec_ids[r], int(recs['length'][r]),
                         eeg_ids[s], eegs['start'][s], eegs['length'][s], segments[r], force_gaps and r == 0)
    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as ex: list(ex.map(one, range(len(recs['length']))))


def _write_csv(path: Path, df: pd.DataFrame):
    """Write a csv without index, atomically."""
    with atomic_path(path) as tmp: df.to_csv(tmp, index=False)


def _train_csv(recs: dict, eegs: dict, rows: dict, votes: np.ndarray, eeg_ids, spec_ids, pat_ids, label_ids):
    """train.csv: one row per label with its `votes` (one row each), in the layout's row order."""
    e, rec = rows['eeg'], eegs['rec'][rows['eeg']]
    df = pd.DataFrame({'eeg_id': eeg_ids[e], 'eeg_sub_id': rows['sub'],
                       'eeg_label_offset_seconds': rows['offset'].astype(float),
                       'spectrogram_id': spec_ids[rec], 'spectrogram_sub_id': rows['spec_sub'],
                       'spectrogram_label_offset_seconds': rows['spec_offset'].astype(float), 'label_id': label_ids,
                       'patient_id': pat_ids[recs['patient'][rec]],
                       'expert_consensus': np.array(CLASSES)[votes.argmax(axis=1)],
                       **dict(zip(TARGETS, votes.T))})
    return df


def _eeg_segments(recs: dict, eegs: dict) -> list:
    """Per recording (bounds, probs): each eeg's latent probabilities hold up to the midpoints between eeg centres."""
    out = []
    for a, k in zip(recs['first'], recs['count']):
        c = eegs['start'][a:a + k] + HEAD + eegs['length'][a:a + k] / 2
        out.append(((c[1:] + c[:-1]) / 2, eegs['probs'][a:a + k]))
    return out


def _window_segments(rng, recs: dict, eegs: dict, segments: list) -> list:
    """`segments` with the latent pattern changing at random moments (a Poisson process, one per CHANGE_S s on average)."""
    # after a change, the owning eeg's dominant class leads half the time, another class (CLASS_FREQ) otherwise
    k = rng.poisson(recs['length'] / CHANGE_S)
    times = rng.uniform(0, np.repeat(recs['length'], k))
    owner = np.concatenate([a + np.searchsorted(segments[r][0], times[c - n:c])
                            for r, (a, c, n) in enumerate(zip(recs['first'], np.cumsum(k), k))]).astype(np.int64)
    own = eegs['probs'][owner].argmax(axis=1)
    probs = _draw_probs(rng, np.where(rng.random(len(owner)) < 0.5, own, rng.choice(6, len(owner), p=CLASS_FREQ)))
    out = []
    for r, (c, n) in enumerate(zip(np.cumsum(k), k)):
        bounds, base = segments[r]
        at = np.concatenate([bounds, times[c - n:c]])
        order = np.argsort(at, kind='stable')
        out.append((at[order], np.vstack([base[:1], np.vstack([base[1:], probs[c - n:c]])[order]])))
    return out


def _window_truth(segments: list, rec: np.ndarray, centres: np.ndarray, half: float = 5.0) -> np.ndarray:
    """True probabilities of label windows: the latent pattern averaged over each window's labelled centre ± `half` s."""
    # rec: each window's recording; centres: its centre, in seconds from the recording's start
    out = np.empty((len(rec), 6))
    order = np.argsort(rec, kind='stable')
    for r, idx in zip(np.unique(rec[order]), np.split(order, np.flatnonzero(np.diff(rec[order])) + 1)):
        bounds, probs = segments[r]
        lo, hi = np.r_[-np.inf, bounds], np.r_[bounds, np.inf]
        a, z = centres[idx, None] - half, centres[idx, None] + half
        out[idx] = np.clip(np.minimum(z, hi) - np.maximum(a, lo), 0, None) @ probs / (2 * half)
    return out


def _stratified(rng, n: int, quantile) -> np.ndarray:
    """`n` draws of the distribution with this `quantile` function, one from each of n equal strata, shuffled (one shape at any n)."""
    return quantile((rng.permutation(n) + rng.random(n)) / n)


def _geometric(p: float):
    """The quantile function of the geometric distribution on 1, 2, … with success probability `p`."""
    return lambda u: np.maximum(1, np.ceil(np.log1p(-u) / np.log1p(-p))) if p < 1 else np.ones_like(u)


def _exact_counts(rng, counts: np.ndarray, total: int, cap: int | None = None) -> np.ndarray:
    """`counts` (each ≥ 1, none above `cap`) moved by ±1 until they sum to `total`, each picked in proportion to its size."""
    counts = np.minimum(counts.astype(np.int64), cap or np.iinfo(np.int64).max)
    while d := int(total - counts.sum()):
        w = (counts * (counts < (cap or np.inf))) if d > 0 else counts - 1
        np.add.at(counts, rng.choice(len(counts), abs(d), p=w / w.sum()), np.sign(d))
        counts = np.clip(counts, 1, cap)
    return counts


def _competition_layout(rng, scale: float) -> tuple:
    """Recordings, eegs and label rows with the real train split's counts × `scale` and its shapes (module docstring)."""
    n, n_rows, n_rec, n_pat = (max(1, round(v * scale)) for v in REAL_COUNTS.values())
    n_rows, n_rec = max(n_rows, n), min(n_rec, n)
    n_pat = min(n_pat, n_rec)
    mu, sigma = ROWS_LOGNORMAL
    n_sub = _exact_counts(rng, _stratified(rng, n, lambda u: 1 + np.floor(np.exp(mu + sigma * ndtri(u)))), n_rows, MAX_ROWS)
    per_rec = _exact_counts(rng, _stratified(rng, n_rec, _geometric(n_rec / n)), n)
    patient = np.repeat(np.arange(n_pat), _exact_counts(rng, _stratified(rng, n_pat, _geometric(n_pat / n_rec)), n_rec))
    eeg, rec = np.repeat(np.arange(n), n_sub), np.repeat(np.arange(n_rec), per_rec)
    steps = np.where(rng.random(len(eeg)) < JUMPS, 2 * rng.integers(5, 31, len(eeg)), 2 * rng.geometric(0.6, len(eeg)))
    steps[np.cumsum(n_sub) - n_sub] = 0
    offset = _group_cumsum(steps, n_sub)
    max_off = offset[np.cumsum(n_sub) - 1]
    length = max_off + 50
    first = np.cumsum(per_rec) - per_rec
    step = np.r_[0, length[:-1]] + 2 * rng.geometric(2 / GAP_S, n)
    step[first] = 0
    start = _group_cumsum(step, per_rec)
    rec_len = np.maximum.reduceat(start + max_off, first) + 600
    return _tables(rng, rec, patient, first, per_rec, start, length, rec_len, eeg, n_sub, offset)


def _mlebench_test_spectrograms(train: pd.DataFrame) -> np.ndarray:
    """The spectrogram_ids MLE-bench's prepare.py sends to its test split, by its own call."""
    from sklearn.model_selection import train_test_split   # fastai's dependency; only this layout needs it
    return train_test_split(train['spectrogram_id'].unique(), test_size=0.1, random_state=0)[1]


def _is_synthetic(out: Path) -> bool:
    """Whether `out` holds a previous synthetic output (only synth writes test_oracle.csv, in either layout)."""
    return (out / 'test_oracle.csv').is_file() or (out / 'public' / 'test_oracle.csv').is_file()


def _check_args(out: Path, n_eegs, n_test, seed: int, truth: str, layout: str, like, scale: float):
    """HMSDataError for an argument make_synthetic cannot honour, or an `out` that is not (or may not become) its folder."""
    for name, value, allowed in (('truth', truth, TRUTHS), ('layout', layout, LAYOUTS), ('like', like, LIKES)):
        if value not in allowed: raise HMSDataError(name, f'must be one of {list(allowed)}, got {value!r}')
    if like is None and scale != 1: raise HMSDataError('scale', "applies to like='competition' only")
    if like is not None and n_eegs is not None: raise HMSDataError('n_eegs', f"like={like!r} sets the counts (use scale)")
    if not (scale > 0 and round(REAL_COUNTS['eegs'] * scale) >= 2): raise HMSDataError('scale', f'must give ≥ 2 eegs, got {scale}')
    if layout == 'mlebench' and n_test is not None:
        raise HMSDataError('n_test', "MLE-bench's test split is 10 % of the train spectrograms: give n_eegs only")
    if (n_eegs is not None and n_eegs < 1) or (n_test is not None and n_test < 1):
        raise HMSDataError('make_synthetic', f'needs ≥ 1 train and test eeg, got {n_eegs}, {n_test}')
    if seed < 0: raise HMSDataError('make_synthetic', f'seed must be ≥ 0, got {seed}')
    if out.exists() and not out.is_dir(): raise HMSDataError(out, 'exists and is not a folder')
    if out.is_dir() and any(out.iterdir()) and not _is_synthetic(out):
        raise HMSDataError(out, 'holds files that are not a previous synthetic output: use an empty or new folder')


def _write_kaggle(out: Path, seed: int, train: tuple, test: tuple, ids: dict, train_csv: pd.DataFrame, t_votes, t_truth):
    """The Kaggle layout: the competition's files (one test row per eeg, 50 s / 600 s), test_solution.csv and test_oracle.csv."""
    (recs, eegs, segs), (t_recs, t_eegs, t_segs) = train, test
    n_rec, n_eegs, n_pat = len(recs['length']), len(eegs['rec']), recs['patient'][-1] + 1
    _write_signals(out, 'train', seed, recs, eegs, segs, ids['spec'][:n_rec], ids['eeg'][:n_eegs], force_gaps=True)
    _write_signals(out, 'test', seed, t_recs, t_eegs, t_segs, ids['spec'][n_rec:], ids['eeg'][n_eegs:], force_gaps=False)
    _write_csv(out / 'train.csv', train_csv)
    test_ids = ids['eeg'][n_eegs:]
    _write_csv(out / 'test.csv', pd.DataFrame({'spectrogram_id': ids['spec'][n_rec:], 'eeg_id': test_ids,
                                               'patient_id': ids['patient'][n_pat + t_recs['patient']]}))
    _write_csv(out / 'sample_submission.csv', target_frame(test_ids, np.full((len(test_ids), 6), 1 / 6)))
    _write_csv(out / 'test_solution.csv', target_frame(test_ids, t_votes / t_votes.sum(axis=1, keepdims=True)))
    _write_csv(out / 'test_oracle.csv', target_frame(test_ids, t_truth))


def _write_mlebench(out: Path, seed: int, train: tuple, ids: dict, raw: pd.DataFrame, truth: np.ndarray):
    """MLE-bench's split of the synthetic train.csv `raw` as its prepare.py writes it (public/, private/), plus our per-row answers."""
    recs, eegs, segs = train
    n_rec, n_eegs = len(recs['length']), len(eegs['rec'])
    is_test = raw['spectrogram_id'].isin(_mlebench_test_spectrograms(raw)).to_numpy()
    new_train, new_test = raw[~is_test], raw[is_test]
    public, private = out / 'public', out / 'private'
    _write_csv(public / 'train.csv', new_train)
    _write_csv(private / 'test.csv', new_test)
    _write_csv(public / 'test.csv', new_test[['spectrogram_id', 'eeg_id', 'patient_id']])
    gold = new_test[['eeg_id', *TARGETS]].copy()
    gold[TARGETS] = gold[TARGETS].div(gold[TARGETS].sum(axis=1), axis=0)
    _write_csv(private / 'gold_submission.csv', gold)
    _write_csv(public / 'sample_submission.csv', gold.assign(**{c: 1 / len(TARGETS) for c in TARGETS}))
    _write_csv(public / 'test_solution.csv', gold)
    _write_csv(public / 'test_oracle.csv', target_frame(new_test['eeg_id'], truth[is_test]))
    test_specs = set(new_test['spectrogram_id'])
    folders = ['test' if s in test_specs else 'train' for s in ids['spec'][:n_rec]]
    _write_signals(public, 'train', seed, recs, eegs, segs, ids['spec'][:n_rec], ids['eeg'][:n_eegs], True, folders)


def make_synthetic(out,                         # folder to write into: empty, new, or a previous synthetic output
                   n_eegs: int | None = None,   # train eegs (default 200); like='competition' sets it (17,089 × scale)
                   n_test: int | None = None,   # test eegs of the Kaggle layout (default 50)
                   seed: int = 0,
                   truth: str = 'eeg',          # 'eeg': one latent pattern per eeg, its votes on all its rows; 'window':
                                                # the pattern changes in time, each label row voted from its own window
                   layout: str = 'kaggle',      # 'kaggle': the competition's folder; 'mlebench': MLE-bench's split of it
                   like: str | None = None,     # None: small demo shapes; 'competition': the real train split's shapes
                   scale: float = 1.0,          # like='competition': the fraction of the real counts
                   ) -> Path:
    """Write a synthetic competition with known true probabilities into `out` (module docstring); same arguments, same bytes."""
    out = Path(out)
    _check_args(out, n_eegs, n_test, seed, truth, layout, like, scale)
    rng = np.random.default_rng([seed, 2])
    recs, eegs, rows = _train_layout(rng, 200 if n_eegs is None else n_eegs) if like is None else _competition_layout(rng, scale)
    n_eegs = len(eegs['rec'])
    t_recs, t_eegs = _test_layout(rng, 50 if n_test is None else n_test)
    n_rec, n_test = len(recs['length']), len(t_eegs['rec'])
    if layout == 'mlebench' and n_rec < 2: raise HMSDataError('n_eegs', f'{n_eegs} eeg(s) make {n_rec} recording: MLE-bench splits ≥ 2')
    n_pat, t_pat = recs['patient'][-1] + 1, t_recs['patient'][-1] + 1
    ids = dict(eeg=_unique_ids(rng, n_eegs + n_test, 100_000, 2 ** 32), spec=_unique_ids(rng, n_rec + n_test, 100_000, 2 ** 31),
               patient=_unique_ids(rng, n_pat + t_pat, 1, max(65_536, 4 * (n_pat + t_pat))))
    label_ids = _unique_ids(rng, len(rows['eeg']), 10_000, 2 ** 32)
    votes, t_votes = rng.multinomial(eegs['totals'], eegs['probs'])[rows['eeg']], rng.multinomial(t_eegs['totals'], t_eegs['probs'])
    segs, t_segs = _eeg_segments(recs, eegs), _eeg_segments(t_recs, t_eegs)
    truth_rows, t_truth = eegs['probs'][rows['eeg']], t_eegs['probs']
    if truth == 'window':
        wrng = np.random.default_rng([seed, 3])
        segs, t_segs = _window_segments(wrng, recs, eegs, segs), _window_segments(wrng, t_recs, t_eegs, t_segs)
        truth_rows = _window_truth(segs, eegs['rec'][rows['eeg']], rows['spec_offset'] + 300.0)
        t_truth = _window_truth(t_segs, np.arange(n_test), np.full(n_test, HEAD + 25.0))
        votes, t_votes = wrng.multinomial(eegs['totals'][rows['eeg']], truth_rows), wrng.multinomial(t_eegs['totals'], t_truth)
    train_csv = _train_csv(recs, eegs, rows, votes, ids['eeg'], ids['spec'], ids['patient'], label_ids)
    order = np.argsort(train_csv.spectrogram_id.to_numpy(), kind='stable')        # sorted by spectrogram, as the real file
    train_csv, truth_rows = train_csv.iloc[order].reset_index(drop=True), truth_rows[order]
    if layout == 'kaggle': _write_kaggle(out, seed, (recs, eegs, segs), (t_recs, t_eegs, t_segs), ids, train_csv, t_votes, t_truth)
    else: _write_mlebench(out, seed, (recs, eegs, segs), ids, train_csv, truth_rows)
    return out
