"""The steps that touch every eeg, on one prepared competition (made by `hms-fastai synth --like competition --scale F`
and `hms-fastai prepare`): open the store, `with_channels`, the fold table, `spec_features`, `fit_blend` on full-size OOF
frames, and an epoch of the loader alone over the store's memory maps with the page cache cold and warm. Each figure is
also given per eeg, so that runs at several scales show how it grows. `--parity N`: the stored chains (int16 steps) and
spectrogram rows of N eegs against float32 read from their parquet files, and the mels and Kaggle half made from each.

Cold page cache: the store's memory maps are closed and the chunk files' pages dropped with posix_fadvise(DONTNEED)
before the epoch (`echo 3 > /proc/sys/vm/drop_caches` needs a privilege a container may lack); `fincore` reports how much
of them stayed resident. `--threads 1` (the default): on a machine shared with other jobs, torch's 2 OpenMP threads made
the on-the-fly mels 10-20× slower than one (each parallel region waits for a descheduled thread).
"""
import argparse
import gc
import json
import os
import subprocess
import time
import timeit
from pathlib import Path

import numpy as np
import torch


def _clock(f, *args, **kwargs):
    """(result, seconds) of one call."""
    t = time.perf_counter()
    out = f(*args, **kwargs)
    return out, time.perf_counter() - t


def _chunk_files(store, parts) -> list[Path]:
    """The chunk files of `parts` of a store."""
    return [store.cache / store.split / f for p in parts for f in sorted(set(store._index[f'{p}_file']))]


def _drop_pages(store, files):
    """Close the store's memory maps (a mapped page stays cached) and ask the kernel to drop the files' cached pages."""
    store._maps.clear()                  # shared by every view of the store, the DataLoaders' included
    gc.collect()
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try: os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally: os.close(fd)


def _resident(files) -> float:
    """Fraction of the files' bytes in the page cache (fincore), NaN without fincore."""
    try: out = subprocess.run(['fincore', '-b', '-n', '-o', 'RES,SIZE', *map(str, files)], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError): return float('nan')
    res, size = np.array([[int(v) for v in line.split()] for line in out.stdout.splitlines()]).sum(0)
    return res / size


def _epoch(batches) -> tuple[int, float]:
    """(items, seconds) of iterating `batches` once."""
    t, n = time.perf_counter(), 0
    for b in batches: n += len(b[-1]) if isinstance(b, tuple) else len(b)
    return n, time.perf_counter() - t


def _gathers(store, bs: int, windows: str, mels: bool, seed: int = 0):
    """Store.raw over every eeg once, shuffled, `bs` at a time (the loader's reads, no assembly)."""
    order = np.random.default_rng(seed).permutation(len(store))
    g = torch.Generator().manual_seed(seed)
    for i in range(0, len(order), bs):
        raw = store.raw(order[i:i + bs], windows, generator=g, mels=mels)
        yield next(v for k, v in raw.items() if k != 'pick')


def loader_epochs(store, table, bs: int, dataloader: bool = True) -> dict:
    """Items/s of the reads alone (Store.raw) and of the training DataLoader (reads + assembly), cold then warm, per kind."""
    from hms_fastai.learn.data import hms_dls
    from hms_fastai.learn.kinds import get_kind
    out = {}
    for kind, windows in (('image', 'centre'), ('image', 'random'), ('signal', 'random')):
        k = get_kind(kind)
        view = store.with_channels(k.reads(None))
        mels = k.mels and windows == 'centre'                       # training batches: centre mels, or the chains
        parts = [p for p in view.reads(k.mels, windows) if p != ('eeg' if mels else 'mel')]
        files = _chunk_files(store, parts)
        gb = sum(f.stat().st_size for f in files) / 1e9
        label = f'{kind}, {windows} windows ({" + ".join(parts)}, {gb:.2f} GB)'
        row = {'parts': parts, 'GB': gb}
        runs = [('reads', lambda: _gathers(view, bs, windows, k.mels))]
        if dataloader:                                              # built only when its epochs are timed
            dls = hms_dls(table, store, fold=0, kind=kind, windows=windows, bs=bs, resident=False, seed=0)
            runs.append(('DataLoader', lambda: dls.train))
        for what, batches in runs:
            for state in ('cold', 'warm'):
                if state == 'cold': _drop_pages(store, files)
                before = _resident(files)
                n, s = _epoch(batches())
                row[f'{what} {state}'] = {'items/s': n / s, 'seconds': s, 'items': n, 'resident before': before}
                print(f'  {label}, {what}, {state} (page cache held {before:.0%}): {n / s:,.0f} items/s ({n:,} in {s:.1f} s)',
                      flush=True)
        out[label] = row
    return out


def parity(store, comp, n: int, seed: int = 0) -> dict:
    """Largest differences of the 16-bit store from float32 (parquet) at the centre windows of `n` eegs."""
    from hms_fastai.competition.io import read_eeg, read_spectrogram
    from hms_fastai.core.constants import EEG_WINDOW, HALVES, SPEC_COLUMNS
    from hms_fastai.experiments.tabular import window_features
    from hms_fastai.signals.eegspec import bipolar, bipolar_mels
    from hms_fastai.signals.image import spec_images, spec_window
    ids = np.random.default_rng(seed).choice(store.table.eeg_id.to_numpy(), min(n, len(store)), replace=False)
    idx = store._index.set_index('eeg_id').loc[ids]
    rows = store.rows(ids)
    eeg16 = store.with_channels(HALVES['eeg']).raw(rows, mels=False)['eeg']
    eeg32 = torch.from_numpy(np.stack([bipolar(read_eeg(comp.eeg_path(e)).to_numpy(np.float32))[s:s + EEG_WINDOW]
                                       for e, s in zip(ids, idx.centre_start)]))
    step = torch.from_numpy(np.array(idx.eeg_scale.tolist(), np.float32))[:, None]   # µV per int16 step, per chain
    err = (eeg16 - eeg32).abs().nan_to_num(0.0)
    mel16, mel32 = bipolar_mels(eeg16), bipolar_mels(eeg32)
    stored_mel = store.with_channels(HALVES['eeg']).raw(rows)['mel'].float()
    spec16 = store.with_channels(HALVES['spec']).raw(rows)['spec']
    spec32 = torch.from_numpy(np.stack([spec_window(read_spectrogram(comp.spec_path(s))[SPEC_COLUMNS].to_numpy(np.float32),
                                                    int(c // 2)) for s, c in zip(idx.spectrogram_id, idx.centre_spec_s)]))
    inside = (spec32 >= np.exp(-4)) & (spec32 <= np.exp(8))
    feats = np.abs(window_features(spec16.numpy()) - window_features(spec32.numpy()))
    out = {'eegs': len(ids), 'EEG chains: median step (µV)': float(step.median()),
           'EEG chains: largest difference (µV)': err.max().item(),
           'EEG chains: largest difference in steps (rounding: ≤ 0.5)': (err / step).max().item(),
           'EEG chains: NaN where float32 has NaN': bool((eeg16.isnan() == eeg32.isnan()).all()),
           'mels from the chains: largest difference': (mel16 - mel32).abs().max().item(),
           'stored centre mels (float16 before and after): largest difference from float32 mels': (stored_mel - mel32).abs().max().item(),
           'spectrogram rows in the recipe range: largest relative difference':
               ((spec16 - spec32).abs()[inside] / spec32[inside]).max().item(),
           'Kaggle half of the image: largest difference': (spec_images(spec16) - spec_images(spec32)).abs().max().item(),
           'tabular features: largest difference': float(np.nanmax(feats))}
    for k, v in out.items(): print(f'  {k}: {v:.3g}' if isinstance(v, float) else f'  {k}: {v}', flush=True)
    return out


def main(a):
    from hms_fastai.competition.blend import fit_blend
    from hms_fastai.competition.io import load_competition
    from hms_fastai.competition.meta import fold_table
    from hms_fastai.competition.score import target_frame
    from hms_fastai.core.constants import CHANNELS, TARGETS
    from hms_fastai.experiments.tabular import spec_features
    from hms_fastai.signals.store import Store
    torch.set_num_threads(a.threads)
    res = {'torch threads': a.threads}
    store, res['open store (s)'] = _clock(Store.open, a.cache)
    n = len(store)
    print(f'{n:,} eegs; store opened in {res["open store (s)"]:.2f} s; bytes by part: '
          + ', '.join(f'{p} {b / 1e9:.2f} GB' for p, b in store.nbytes().items()), flush=True)
    res['bytes'] = store.nbytes()
    s = min(timeit.repeat(lambda: store.with_channels(CHANNELS[:5]), number=200, repeat=5)) / 200
    res['with_channels (µs a call)'] = s * 1e6
    print(f'with_channels: {s * 1e6:.1f} µs a call (fastest of 5 × 200 calls)', flush=True)
    comp, res['load_competition (s)'] = _clock(load_competition, a.data, test=False)
    table, res['fold_table (s)'] = _clock(fold_table, comp)
    print(f'load_competition (train.csv, {len(comp.train):,} rows, files checked): {res["load_competition (s)"]:.1f} s; '
          f'fold_table: {res["fold_table (s)"]:.2f} s', flush=True)
    cpu = time.process_time()
    feats, s = _clock(spec_features, store)
    cpu = time.process_time() - cpu
    res['spec_features (s)'], res['spec_features CPU (s)'] = s, cpu
    print(f'spec_features: {s:.1f} s = {1e3 * s / n:.2f} ms per eeg; CPU {1e3 * cpu / n:.2f} ms per eeg '
          f'({feats.shape[1] - 1} features)', flush=True)
    rng = np.random.default_rng(0)
    truth = table[TARGETS].to_numpy()
    oofs = {f'm{i}': target_frame(table.eeg_id, (1 - w) * truth + w * rng.dirichlet(np.ones(6), len(table)), table.fold)
            for i, w in enumerate((0.3, 0.5, 0.7))}
    for on in ('expert', 'all'):
        blend, s = _clock(fit_blend, oofs, table, on)
        res[f'fit_blend on {on} rows (s)'] = s
        print(f'fit_blend, 3 members × {len(table):,} OOF rows, on {on} rows: {s:.2f} s (weights '
              + ', '.join(f'{v:.2f}' for v in blend.weights.values()) + ')', flush=True)
    if a.parity:
        print(f'16-bit store vs float32 (parquet), centre windows of {a.parity} eegs:', flush=True)
        res['parity'] = parity(store, comp, a.parity)
    if a.loader:
        print(f'an epoch of the training loader alone ({int((table.fold != 0).sum()):,} items, bs {a.bs}):', flush=True)
        res['loader'] = loader_epochs(store, table, a.bs, a.dataloader)
    print(json.dumps(res, indent=1, default=float))
    if os.environ.get('OUT'): (Path(os.environ['OUT']) / 'bench_scale.json').write_text(json.dumps(res, indent=1, default=float))


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', required=True, help='competition folder')
    ap.add_argument('--cache', required=True, help='its prepared cache (train split)')
    ap.add_argument('--bs', type=int, default=64)
    ap.add_argument('--parity', type=int, default=0, help='eegs compared with float32 (0: none)')
    ap.add_argument('--no-loader', dest='loader', action='store_false', help='skip the loader epochs')
    ap.add_argument('--reads-only', dest='dataloader', action='store_false',
                    help="the loader's reads alone (the DataLoader's assembly costs the same per item at any size)")
    ap.add_argument('--threads', type=int, default=1, help='torch CPU threads (see above)')
    main(ap.parse_args())
