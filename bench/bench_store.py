"""Benchmark the signal store: `prepare` throughput, peak memory and bytes per eeg (with an estimate for the full
competition), and batch reading (`Store.raw` + `assemble`, centre and random windows) vs per-item parquet reading.
`--scale F`: the synthetic set has the real competition's shape (`synth --like competition --scale F`); the full
competition measured whole: README's scale table (`bench/bench_scale.py`)."""
import argparse
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

REAL_EEGS, REAL_ROWS, REAL_SPECS = 17_089, 106_800, 11_138


def _rss_mb() -> float:
    """Peak resident memory of this process so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _prepare_child(data, cache, q):
    """Run `prepare` in a fresh process and report seconds and peak memory above the imports."""
    from hms_fastai.signals.prepare import prepare
    base = _rss_mb()
    t = time.perf_counter()
    prepare(data, cache, 'train')
    q.put((time.perf_counter() - t, base, _rss_mb()))


def _naive_images(comp, rows, centre):
    """The seed's way without a cache: open both parquet files of each row and compute its image."""
    from hms_fastai.competition.io import read_eeg, read_spectrogram
    from hms_fastai.core.constants import SPEC_COLUMNS
    from hms_fastai.signals.eegspec import eeg_image
    from hms_fastai.signals.image import image_channels, spec_image
    out = []
    for r in rows.itertuples():
        spec = read_spectrogram(comp.spec_path(r.spectrogram_id))[SPEC_COLUMNS].to_numpy()
        eeg = read_eeg(comp.eeg_path(r.eeg_id)).to_numpy()
        start = centre[r.eeg_id]
        out.append(image_channels(spec_image(spec, int((r.spec_offset_min + r.spec_offset_max) // 4)),
                                  eeg_image(eeg[start:start + 10_000])))
    return np.stack(out)


def _per_image_ms(fn, n: int, reps: int = 5) -> float:
    """Median milliseconds per image of `fn()` (which makes `n` images) over `reps` calls."""
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return float(np.median(ts)) * 1e3 / n


def main(n_eegs: int | None, scale: float | None, bs: int, work: Path):
    import torch

    from hms_fastai.competition.io import load_competition
    from hms_fastai.competition.synth import make_synthetic
    from hms_fastai.signals.image import assemble
    from hms_fastai.signals.store import Store
    t = time.perf_counter()
    shape = {'like': 'competition', 'scale': scale} if scale else {'n_eegs': n_eegs}
    data = make_synthetic(work / 'data', n_test=10, seed=0, **shape)
    print(f'synth ({shape}) in {time.perf_counter() - t:.1f}s')
    comp = load_competition(data)
    n_files = comp.train.eeg_id.nunique() + comp.train.spectrogram_id.nunique()

    q = mp.get_context('spawn').Queue()
    p = mp.get_context('spawn').Process(target=_prepare_child, args=(data, work / 'cache', q))
    p.start(); secs, base, peak = q.get(); p.join()
    rate = n_files / secs
    print(f'prepare: {n_files} parquet files ({comp.train.eeg_id.nunique()} EEG + {comp.train.spectrogram_id.nunique()} '
          f'spectrogram) in {secs:.1f}s = {rate:.0f} files/s; peak memory {peak:.0f} MB ({peak - base:.0f} MB above the imports)')

    store = Store.open(work / 'cache')
    n, rows = len(store), len(comp.train)
    spans = comp.train.groupby('eeg_id').eeg_label_offset_seconds.agg(lambda s: s.max() - s.min())
    per = {k: v / n for k, v in store.nbytes().items()}
    print('bytes per eeg: ' + ', '.join(f'{k} {v / 1e3:,.0f} kB' for k, v in per.items())
          + f'; {rows / n:.2f} label rows per eeg, their EEG offsets span {spans.mean():.1f} s on average')
    eeg_s = per['eeg'] / (16 * 2 * 200)                       # stored seconds of 16 float16 differences per eeg
    print(f'  stored EEG per eeg: {eeg_s:.1f} s = the labels\' span + 50 s; the full competition: {REAL_EEGS:,} eegs, '
          f'{REAL_ROWS:,} label rows ({REAL_ROWS / REAL_EEGS:.2f} per eeg), {REAL_SPECS:,} spectrograms')
    for label, span in (('if its spans average this set\'s', spans.mean()), ('if 5 s between labels', 5 * (REAL_ROWS / REAL_EEGS - 1))):
        eeg_gb = REAL_EEGS * (span + 50) * 16 * 2 * 200 / 1e9           # float16
        spec_gb = REAL_SPECS * (300 + span / 2) * 400 * 2 / 1e9
        mel_gb = REAL_EEGS * per['mel'] / 1e9
        print(f'  {label} ({span:.0f} s): EEG {eeg_gb:.1f} GB + spectrogram rows {spec_gb:.1f} GB + centre mels '
              f'{mel_gb:.1f} GB = {eeg_gb + spec_gb + mel_gb:.1f} GB; --max-seconds 50 caps the EEG at '
              f'{REAL_EEGS * 50 * 16 * 2 * 200 / 1e9:.1f} GB')

    torch.set_num_threads(max(1, torch.get_num_threads()))
    ids = store.table.eeg_id.to_numpy()[:bs]
    r = store.rows(ids)
    for w in ('centre', 'random'):
        ms = _per_image_ms(lambda: assemble(store.raw(r, w)), len(r))
        print(f'Store.raw + assemble, {w} windows, batches of {bs}: {ms:.2f} ms per image')
    centre = dict(zip(store._index.eeg_id, store._index.centre_start))
    slow = _per_image_ms(lambda: _naive_images(comp, store.table.iloc[:8], centre), 8, reps=2)
    print(f'per-item parquet + recipe: {slow:.1f} ms per image')


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--n-eegs', type=int, default=2000)
    ap.add_argument('--scale', type=float, help="the real competition's shape × this (instead of --n-eegs)")
    ap.add_argument('--bs', type=int, default=64)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d: main(a.n_eegs, a.scale, a.bs, Path(d))
