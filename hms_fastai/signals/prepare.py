"""Building the signal cache: `prepare` reads every parquet of a split once, in parallel, into memory-mapped chunks."""
import hashlib
import io
import json
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from fastcore.parallel import num_cpus

from ..competition.io import OFFSET_COLUMNS, Competition, load_competition, parquet_file, read_eeg, read_spectrogram
from ..competition.meta import eeg_table
from ..core.atomic import atomic_path, folder_lock, sweep_temp
from ..core.constants import (CHANNELS, EEG_RATE, EEG_WINDOW, IMAGE_SHAPE, PARTS, REGIONS, SPEC_COLUMNS, SPEC_STEP, SPEC_WINDOW,
                              TARGETS, TEST_STRIDE, part_of)
from ..core.errors import HMSDataError
from ..core.progress import progress
from .eegspec import bipolar, bipolar_mels
from .image import spec_row
from .store import EEG_NAN, FORMAT, Store, csv_windows

__all__ = ['prepare']

EEG_CHUNK, SPEC_CHUNK_ROWS, MEL_BATCH = 256, 200_000, 64


def _half(x: np.ndarray) -> np.ndarray:
    """`x` as float16 (11 significant bits), magnitudes beyond float16's range clipped to it, NaN kept."""
    big = float(np.finfo(np.float16).max)
    return np.clip(x, -big, big).astype(np.float16)


def _steps(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An eeg's (T, 16) bipolar differences as int16 steps of a per-chain scale (its largest |µV| / 32,767; NaN: EEG_NAN)."""
    peak = np.where(np.isfinite(d), np.abs(d), 0).max(0)
    scale = np.where(peak > 0, peak / 32_767, 1).astype(np.float32)
    steps = np.clip(np.rint(d / scale), -32_767, 32_767)          # ±inf: the extremes
    return np.where(np.isnan(d), EEG_NAN, steps).astype(np.int16), scale


def _stamp(path: Path) -> list:
    """What identifies a source file's version: its size and modification time."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _key(*parts) -> str:
    """A short content key for a chunk from everything that determines its contents."""
    return hashlib.sha1(json.dumps([FORMAT, *parts], default=str).encode()).hexdigest()[:16]


def _writable(folder: Path) -> bool:
    """Whether `folder` can be written (or, when it does not exist yet, created)."""
    while not folder.exists(): folder = folder.parent
    return os.access(folder, os.W_OK)


def _check_manifest(cache: Path, root: Path, writable: bool) -> dict | None:
    """Refuse another root's, another format's or a non-cache folder; return the manifest a new cache needs (None: has one)."""
    mf = cache / 'manifest.json'
    want = {'format': FORMAT, 'data_root': str(root.resolve())}
    if mf.exists():
        try: have = json.loads(mf.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise HMSDataError(mf, f'not a readable cache manifest ({type(e).__name__}): delete the cache or use another --cache') from None
        if have.get('format') != FORMAT:
            raise HMSDataError(cache, f"cache format {have.get('format')} is not the current {FORMAT}: delete it or use another --cache")
        if have.get('data_root') != want['data_root']:
            raise HMSDataError(cache, f"cache was built from {have.get('data_root')}, not {want['data_root']}: use another --cache")
        return None
    if cache.exists() and any(f.name != '.lock' and not f.name.endswith(('.tmp', '.tmp.json')) for f in cache.iterdir()):
        raise HMSDataError(cache, 'not an hms_fastai cache (no manifest.json) and not empty')
    if not writable: raise HMSDataError(cache, 'is not an hms_fastai cache and cannot be written')
    return want


def _save_npy(path: Path, a: np.ndarray):
    """Write an array atomically as .npy."""
    with atomic_path(path, '.npy') as tmp: np.save(tmp, a)


def _save_parquet(path: Path, df: pd.DataFrame):
    """Write a table atomically as parquet, unless the file already holds exactly these bytes."""
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    if path.is_file() and path.read_bytes() == buf.getvalue(): return
    with atomic_path(path, '.parquet') as tmp: tmp.write_bytes(buf.getvalue())


def _reusable(paths, index: Path, writable: bool, sizes: list[str]) -> bool:
    """Whether a chunk's files are there whole (the sizes its index recorded); HMSDataError if not and read-only."""
    ok = index.is_file() and all(p.is_file() for p in paths)
    if ok:
        recorded = pd.read_parquet(index, columns=sizes).iloc[0]
        ok = all(p.stat().st_size == recorded[c] for p, c in zip(paths, sizes))
    if not ok and not writable:
        raise HMSDataError(index.parent, f'is read-only and {paths[0].name} is missing or truncated: prepare it where it can be written')
    return ok


def _label_windows(rows: pd.DataFrame) -> pd.DataFrame:
    """The distinct label windows of csv rows: eeg_id, spec_s, start and, with votes, their fractions and total_votes."""
    # a window's votes: summed over its rows (one row in the real train.csv)
    w = csv_windows(rows)
    if not set(TARGETS) <= set(rows.columns): return w.drop_duplicates()
    votes = w.assign(**{c: rows[c].to_numpy(float) for c in TARGETS}).groupby(['eeg_id', 'spec_s', 'start'], sort=False)
    votes = votes[TARGETS].sum()
    total = votes.sum(axis=1)
    return votes.div(total, axis=0).assign(total_votes=total).reset_index()


def _test_spans(comp, table: pd.DataFrame) -> pd.DataFrame:
    """Per test eeg without offsets: n (EEG samples), last (the last crop start inside its spectrogram, s); warns if assumed."""
    n = np.array([parquet_file(comp.eeg_path(i, 'test')).metadata.num_rows for i in table.eeg_id], np.int64)
    rows = np.array([parquet_file(comp.spec_path(i, 'test')).metadata.num_rows for i in table.spectrogram_id], np.int64)
    last = np.maximum(SPEC_STEP * (rows - SPEC_WINDOW), 0)
    unsure = last > (n - EEG_WINDOW) / EEG_RATE            # room for the EEG at more than one place in its spectrogram
    if unsure.any():
        warnings.warn(f'test.csv gives no offsets and {unsure.sum()} of {len(table)} test eegs (e.g. '
                      f'{table.eeg_id[unsure].iloc[0]}) have a spectrogram longer than their EEG needs: each EEG is assumed '
                      f'to start at its spectrogram\'s first label window (a window\'s crop starts as many seconds into the '
                      f'spectrogram as its EEG into the EEG file), as the first eeg of each spectrogram does in train.csv; '
                      f'later eegs of a spectrogram get crops from the wrong place. A model trained with --channels eeg '
                      f'reads no spectrogram.', stacklevel=3)
    return pd.DataFrame({'eeg_id': table.eeg_id.to_numpy(), 'n': n, 'last': last})


def _aligned(start: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Crop starts (s) of EEG windows starting at sample `start`, on the assumption above, kept inside the spectrogram."""
    return np.clip(start / EEG_RATE, 0, last).astype(float)


def _stride_windows(spans: pd.DataFrame) -> pd.DataFrame:
    """Each test eeg's 50 s windows every TEST_STRIDE s from its EEG's start, and one ending at its end."""
    starts = [np.unique(np.r_[np.arange(0, n - EEG_WINDOW + 1, TEST_STRIDE * EEG_RATE), n - EEG_WINDOW]) for n in spans.n]
    w = pd.DataFrame({'eeg_id': np.repeat(spans.eeg_id.to_numpy(), [len(s) for s in starts]),
                      'start': np.concatenate(starts).astype(np.int64)})
    w['spec_s'] = _aligned(w.start.to_numpy(), np.repeat(spans['last'].to_numpy(), [len(s) for s in starts]))
    return w


def _windows(rows: pd.DataFrame, table: pd.DataFrame, spans: pd.DataFrame | None, max_seconds: float | None) -> pd.DataFrame:
    """Each eeg's distinct label windows (without offsets: its stride windows): eeg_id, spec_s (crop start, s), start, votes."""
    if spans is not None:
        return _stride_windows(spans).sort_values(['eeg_id', 'start'])[['eeg_id', 'spec_s', 'start']].reset_index(drop=True)
    w = _label_windows(rows)
    keep = list(w.columns)
    w = w.merge(table[['eeg_id', 'centre_start']], on='eeg_id')
    w = w.assign(dist=(w.start - w.centre_start).abs()).sort_values(['eeg_id', 'dist', 'start'], kind='stable')
    if max_seconds is not None:             # the windows nearest the centre while the EEG span fits in max_seconds
        g = w.groupby('eeg_id', sort=False)
        span = np.maximum(g.start.cummax(), w.centre_start) - np.minimum(g.start.cummin(), w.centre_start) + EEG_WINDOW
        w = w[(span <= max_seconds * EEG_RATE).to_numpy()]
        none = table[~table.eeg_id.isin(w.eeg_id)]            # no label window fits beside the centre: the centre alone,
        w = pd.concat([w, none.rename(columns={'centre_spec_s': 'spec_s', 'centre_start': 'start'})[keep]])   # eeg's votes
    return w.sort_values(['eeg_id', 'start', 'spec_s'])[keep].reset_index(drop=True)


def _centres(table: pd.DataFrame, spans: pd.DataFrame | None) -> pd.DataFrame:
    """The seed's window of each eeg: the mean of its min and max offsets; rows without offsets: the EEG's middle 50 s."""
    if spans is not None:
        start = (spans.n.to_numpy() - EEG_WINDOW) // 2
        return table.assign(centre_spec_s=_aligned(start, spans['last'].to_numpy()), centre_start=start)
    return table.assign(centre_spec_s=(table.spec_offset_min + table.spec_offset_max) / 2,
                        centre_start=((table.eeg_offset_min + table.eeg_offset_max) / 2 * EEG_RATE).astype(np.int64))


def _spec_ranges(table: pd.DataFrame, windows: pd.DataFrame, margin: float) -> pd.DataFrame:
    """Per spectrogram the file rows [lo, hi) its eegs' crops need (± `margin` s), and its last crop (last_s, of last_eeg)."""
    pad = math.ceil(margin / SPEC_STEP)
    rows = pd.concat([windows[['eeg_id', 'spec_s']], table[['eeg_id', 'centre_spec_s']].rename(columns={'centre_spec_s': 'spec_s'})])
    rows = rows.merge(table[['eeg_id', 'spectrogram_id']], on='eeg_id').assign(row=lambda d: [spec_row(s) for s in d.spec_s])
    g = rows.groupby('spectrogram_id').row
    last = rows.loc[g.idxmax()]
    return pd.DataFrame({'spectrogram_id': last.spectrogram_id.to_numpy(), 'lo': np.maximum(g.min().to_numpy() - pad, 0),
                         'hi': g.max().to_numpy() + SPEC_WINDOW + pad, 'last_s': last.spec_s.to_numpy(),
                         'last_eeg': last.eeg_id.to_numpy()})


def _spec_chunks(ranges: pd.DataFrame) -> list:
    """Split the spectrograms into chunks of at most SPEC_CHUNK_ROWS stored rows."""
    chunks, cur, rows = [], [], 0
    for i, n in enumerate((ranges.hi - ranges.lo).to_numpy()):
        if cur and rows + n > SPEC_CHUNK_ROWS: chunks.append(cur); cur, rows = [], 0
        cur.append(i); rows += n
    return chunks + ([cur] if cur else [])


def _build_spec_chunk(comp, split: str, part: pd.DataFrame, path: Path, pool) -> pd.DataFrame:
    """Read a chunk's spectrograms (in parallel), save their needed rows concatenated; return where each one lies."""
    def one(r):
        where = comp.spec_path(r.spectrogram_id, split)
        values = read_spectrogram(where)[SPEC_COLUMNS].to_numpy()
        if spec_row(r.last_s) >= len(values):          # any window of any of its eegs, not only the first one's
            raise HMSDataError(where, f'eeg_id {r.last_eeg}: its spectrogram offset {r.last_s:g} s is past the end of the file '
                                      f'({len(values)} rows, {len(values) * SPEC_STEP:g} s)')
        return values[r.lo:r.hi], len(values)
    parts = list(pool.map(one, part.itertuples()))
    _save_npy(path, _half(np.concatenate([p for p, _ in parts])))
    n = np.array([len(p) for p, _ in parts])
    return part.drop(columns=['last_s', 'last_eeg']).assign(n=n, offset=np.cumsum(n) - n, file_rows=[k for _, k in parts],
                                                            spec_bytes=path.stat().st_size)


def _prepare_specs(comp, cache: Path, table: pd.DataFrame, windows: pd.DataFrame, split: str, margin: float, pool,
                   writable: bool) -> pd.DataFrame:
    """Build (or reuse) the spectrogram chunks; per eeg_id where its spectrogram's rows lie (see Store)."""
    ranges = _spec_ranges(table, windows, margin).sort_values('spectrogram_id').reset_index(drop=True)
    index = []
    for idx in progress(_spec_chunks(ranges), f'{split} spectrogram chunks'):
        part = ranges.iloc[idx]
        key = _key('spec', split, [[int(r.spectrogram_id), int(r.lo), int(r.hi), _stamp(comp.spec_path(r.spectrogram_id, split))]
                                   for r in part.itertuples()])
        path, ipath = cache / split / f'spec_{key}.npy', cache / split / f'spec_{key}.parquet'
        if not _reusable([path], ipath, writable, ['spec_bytes']): _save_parquet(ipath, _build_spec_chunk(comp, split, part, path, pool))
        index.append(pd.read_parquet(ipath).assign(spec_file=path.name))
    s = pd.concat(index, ignore_index=True).drop(columns='spec_bytes')
    s = s.assign(spec_base=s.offset - s.lo, spec_stop=s.offset + s.n, spec_lo=s.lo, spec_hi=s.lo + s.n, spec_rows=s.file_rows)
    cols = ['spec_file', 'spec_base', 'spec_stop', 'spec_lo', 'spec_hi', 'spec_rows']
    return table[['eeg_id', 'spectrogram_id']].merge(s[['spectrogram_id', *cols]], on='spectrogram_id')[['eeg_id', *cols]]


def _eeg_span(starts: np.ndarray, margin: float, where, n: int) -> tuple[int, int]:
    """The file samples [lo, hi) that hold every window starting at `starts`, ± `margin` seconds (HMSDataError past the end)."""
    if starts.max() + EEG_WINDOW > n:
        raise HMSDataError(where, f'50 s window at {starts.max() / EEG_RATE:g} s runs past the end of the {n / EEG_RATE:g} s file')
    pad = int(round(margin * EEG_RATE))
    return max(int(starts.min()) - pad, 0), min(int(starts.max()) + EEG_WINDOW + pad, n)


def _build_eeg_chunk(comp, split: str, part: pd.DataFrame, starts: dict, margin: float, paths: tuple, pool, device) -> pd.DataFrame:
    """Read a chunk's EEGs (in parallel): save each one's bipolar differences (int16 steps) and centre mels (from float32)."""
    def one(r):
        where = comp.eeg_path(r.eeg_id, split)
        x = read_eeg(where).to_numpy()
        lo, hi = _eeg_span(starts[r.eeg_id], margin, where, len(x))
        return bipolar(x[lo:hi]), lo
    spans = list(pool.map(one, part.itertuples()))
    n = np.array([len(d) for d, _ in spans])
    offset = np.cumsum(n) - n
    diffs = np.concatenate([d for d, _ in spans]).astype(np.float32)
    centre = offset + part.centre_start.to_numpy() - np.array([lo for _, lo in spans])
    mels = np.empty((len(part), len(REGIONS), *IMAGE_SHAPE), np.float16)
    for i in range(0, len(part), MEL_BATCH):
        windows = np.stack([diffs[c:c + EEG_WINDOW] for c in centre[i:i + MEL_BATCH]])
        mels[i:i + MEL_BATCH] = bipolar_mels(torch.from_numpy(windows).to(device)).cpu().numpy()
    steps = [_steps(d) for d, _ in spans]
    _save_npy(paths[0], np.concatenate([q for q, _ in steps]))
    _save_npy(paths[1], mels)
    return pd.DataFrame({'eeg_id': part.eeg_id.to_numpy(), 'eeg_base': offset - np.array([lo for _, lo in spans]),
                         'eeg_lo': [lo for _, lo in spans], 'eeg_hi': [lo + k for (_, lo), k in zip(spans, n)],
                         'eeg_scale': [sc for _, sc in steps],
                         'eeg_bytes': paths[0].stat().st_size, 'mel_bytes': paths[1].stat().st_size})


def _prepare_eegs(comp, cache: Path, table: pd.DataFrame, windows: pd.DataFrame, split: str, margin: float, pool,
                  device, writable: bool) -> pd.DataFrame:
    """Build (or reuse) the EEG chunks; per eeg_id where its bipolar samples and centre mels lie (see Store)."""
    centre = dict(zip(table.eeg_id, table.centre_start))
    starts = {e: np.append(g.to_numpy(), centre[e]) for e, g in windows.groupby('eeg_id').start}
    index = []
    for first in progress(range(0, len(table), EEG_CHUNK), f'{split} EEG chunks'):
        part = table.iloc[first:first + EEG_CHUNK]
        key = _key('eeg', split, margin, [[int(r.eeg_id), starts[r.eeg_id].tolist(), _stamp(comp.eeg_path(r.eeg_id, split))]
                                          for r in part.itertuples()])
        paths = cache / split / f'eeg_{key}.npy', cache / split / f'mel_{key}.npy', cache / split / f'eeg_{key}.parquet'
        if not _reusable(paths[:2], paths[2], writable, ['eeg_bytes', 'mel_bytes']):
            _save_parquet(paths[2], _build_eeg_chunk(comp, split, part, starts, margin, paths[:2], pool, device))
        chunk = pd.read_parquet(paths[2]).drop(columns=['eeg_bytes', 'mel_bytes'])
        index.append(chunk.assign(eeg_file=paths[0].name, mel_file=paths[1].name, mel_pos=np.arange(len(part))))
    return pd.concat(index, ignore_index=True)


def _jitter_bounds(windows: pd.DataFrame, index: pd.DataFrame) -> pd.DataFrame:
    """`windows` with jitter_lo, jitter_hi: how many samples each may move and keep its crop and EEG inside what is stored."""
    w = windows.merge(index, on='eeg_id', how='left')
    lo, hi = np.full(len(w), -np.inf), np.full(len(w), np.inf)
    if 'eeg_lo' in w:
        lo, hi = np.maximum(lo, w.eeg_lo - w.start), np.minimum(hi, w.eeg_hi - EEG_WINDOW - w.start)
    if 'spec_lo' in w:     # crop start row floor((spec_s + δ) / 2) ≥ spec_lo; its rows inside the file are stored
        last = np.where(w.spec_hi < w.spec_rows, w.spec_hi - SPEC_WINDOW, w.spec_rows - 1) + 1
        lo = np.maximum(lo, np.ceil((SPEC_STEP * w.spec_lo - w.spec_s) * EEG_RATE))
        hi = np.minimum(hi, np.ceil((SPEC_STEP * last - w.spec_s) * EEG_RATE) - 1)
    return windows.assign(jitter_lo=lo.astype(np.int64), jitter_hi=hi.astype(np.int64))


def prepare(data, cache_dir, split: str = 'train', parts=PARTS, margin: float = 0.0, max_seconds: float | None = None,
            device=None) -> Store:
    """Read each parquet of `split` of `data` (a folder or Competition) once, in parallel, into memory-mapped chunks; the Store."""
    # Stored per eeg: the spectrogram rows and bipolar EEG of every label window ± `margin` s (jitter room), at most
    # `max_seconds` of EEG around the centre window (windows farther out are dropped), and the centre window's mels;
    # windows.parquet lists the windows, each train window with its own votes. A test split's windows: each row's own
    # when test.csv gives offsets, else 50 s windows every TEST_STRIDE s across the EEG (its centre: the middle 50 s).
    if split not in ('train', 'test'): raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    comp = data if isinstance(data, Competition) else load_competition(data, train=split == 'train', test=split == 'test')
    if split == 'train' and comp.train is None: raise ValueError('a Competition loaded with train=False has no train split')
    if max_seconds is not None and max_seconds < EEG_WINDOW / EEG_RATE:
        raise HMSDataError('max_seconds', f'must be at least {EEG_WINDOW / EEG_RATE:g} (one window), got {max_seconds:g}')
    root, cache = comp.root, Path(cache_dir)
    rows = comp.train if split == 'train' else comp.test
    table = eeg_table(rows, root / f'{split}.csv').sort_values('eeg_id').reset_index(drop=True)
    spans = None if all(c in rows for c in OFFSET_COLUMNS) else _test_spans(comp, table)
    table = _centres(table, spans)
    windows = _windows(rows, table, spans, max_seconds if split == 'train' else None)   # every check before the cache is touched
    writable = _writable(cache)
    new = _check_manifest(cache, root, writable)
    with folder_lock(cache) if writable else nullcontext():      # concurrent prepares of one cache take turns
        if new and not (cache / 'manifest.json').exists():
            sweep_temp(cache)                                     # what a prepare killed before its manifest left
            with atomic_path(cache / 'manifest.json') as tmp: tmp.write_text(json.dumps(new))
        if writable: (cache / split).mkdir(exist_ok=True)
        device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
        index = table[['eeg_id']]
        with ThreadPoolExecutor(num_cpus()) as pool:  # pyarrow releases the GIL
            if 'spec' in parts:
                index = index.merge(_prepare_specs(comp, cache, table, windows, split, margin, pool, writable), on='eeg_id')
            if 'eeg' in parts:
                index = index.merge(_prepare_eegs(comp, cache, table, windows, split, margin, pool, device, writable), on='eeg_id')
        windows = _jitter_bounds(windows, index)
        counts = windows.groupby('eeg_id', sort=False).size()
        table = table.merge(index, on='eeg_id').assign(win_count=counts.loc[table.eeg_id].to_numpy())
        table['win_first'] = np.cumsum(table.win_count) - table.win_count
        if writable:        # for Store.open; a read-only cache serves this request from its chunks alone (checked above)
            _save_parquet(cache / split / 'windows.parquet', windows)
            _save_parquet(cache / split / 'index.parquet', table)
            _remove_stale(cache / split, table, parts)
    return Store(cache, split, table, windows, [c for c in CHANNELS if part_of(c) in parts])


def _remove_stale(folder: Path, table: pd.DataFrame, parts):
    """Delete the prepared parts' chunk files that the new index no longer refers to, and killed writers' temp files."""
    keep = {f for c in ('spec_file', 'eeg_file', 'mel_file') for f in table.get(c, [])}
    keep |= {f.replace('.npy', '.parquet') for f in keep}
    prefixes = tuple(p for part in parts for p in {'spec': ['spec_'], 'eeg': ['eeg_', 'mel_']}[part])
    for f in folder.iterdir():
        if f.name.startswith(prefixes) and f.name not in keep: f.unlink()
    sweep_temp(folder)
