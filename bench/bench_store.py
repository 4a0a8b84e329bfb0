"""Benchmark the signal store: `prepare` throughput and peak memory, and `Store.image` vs per-item parquet reading."""
import argparse
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

REAL_EEGS, REAL_SPECS = 17_089, 11_138


def _rss_mb() -> float:
    """Peak resident memory of this process so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _prepare_child(data, cache, q):
    """Run `prepare` in a fresh process and report seconds and peak memory above the imports."""
    import torch
    from hms_fastai.store import prepare
    torch.set_num_threads(max(1, torch.get_num_threads()))
    base = _rss_mb()
    t = time.perf_counter()
    prepare(data, cache, 'train')
    q.put((time.perf_counter() - t, base, _rss_mb()))


def _naive_image(comp, r):
    """The seed's way without a cache: open both parquet files of the row and compute its image."""
    from hms_fastai.constants import EEG_RATE, SPEC_COLUMNS
    from hms_fastai.eegspec import eeg_image
    from hms_fastai.image import image_channels, spec_image
    from hms_fastai.io import read_eeg, read_spectrogram
    spec = read_spectrogram(comp.spec_path(r.spectrogram_id))[SPEC_COLUMNS].to_numpy()
    eeg = read_eeg(comp.eeg_path(r.eeg_id)).to_numpy()
    start = int((r.eeg_offset_min + r.eeg_offset_max) / 2 * EEG_RATE)
    return image_channels(spec_image(spec, int(r.spec_row)), eeg_image(eeg[start:start + 10_000]))


def _median_ms(fn, items) -> float:
    """Median milliseconds of `fn(item)` over `items`."""
    ts = []
    for it in items:
        t = time.perf_counter(); fn(it); ts.append(time.perf_counter() - t)
    return float(np.median(ts) * 1e3)


def main(n_eegs: int, n_naive: int, work: Path):
    from hms_fastai.io import load_competition
    from hms_fastai.store import Store
    from hms_fastai.synth import make_synthetic
    t = time.perf_counter()
    data = make_synthetic(work / 'data', n_eegs=n_eegs, n_test=10, seed=0)
    print(f'synth: {n_eegs} eegs in {time.perf_counter() - t:.1f}s')
    comp = load_competition(data)
    n_files = comp.train.eeg_id.nunique() + comp.train.spectrogram_id.nunique()

    q = mp.get_context('spawn').Queue()
    p = mp.get_context('spawn').Process(target=_prepare_child, args=(data, work / 'cache', q))
    p.start(); secs, base, peak = q.get(); p.join()
    rate = n_files / secs
    print(f'prepare: {n_files} parquet files ({comp.train.eeg_id.nunique()} EEG + {comp.train.spectrogram_id.nunique()} spectrogram) '
          f'in {secs:.1f}s = {rate:.0f} files/s; peak memory {peak:.0f} MB ({peak - base:.0f} MB above the imports)')
    print(f'  extrapolated to the real {REAL_EEGS} EEGs + {REAL_SPECS} spectrograms: {(REAL_EEGS + REAL_SPECS) / rate / 60:.1f} min '
          f'(real files are longer than synthetic ones); memory is bounded by one chunk, not by the number of files')

    store = Store.open(work / 'cache')
    ids = store.table.eeg_id.to_numpy()
    for i in ids[:50]: store.image(i)                           # warm the page cache like a second epoch
    fast = _median_ms(store.image, ids[:500])
    slow = _median_ms(lambda r: _naive_image(comp, r), list(store.table.itertuples())[:n_naive])
    print(f'Store.image: {fast:.3f} ms median; per-item parquet + recipe: {slow:.1f} ms median; ratio {slow / fast:.0f}x')


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--n-eegs', type=int, default=2000)
    ap.add_argument('--n-naive', type=int, default=40)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d: main(a.n_eegs, a.n_naive, Path(d))
