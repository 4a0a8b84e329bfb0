"""Building the signal cache: `prepare` reads every parquet of a split once, in parallel, into memory-mapped chunks."""
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from fastcore.parallel import num_cpus
from fastprogress.fastprogress import progress_bar

from ..competition.io import Competition, load_competition, parquet_file, read_eeg, read_spectrogram
from ..competition.meta import eeg_table
from ..core.atomic import atomic_path
from ..core.constants import CHANNELS, EEG_RATE, EEG_WINDOW, IMAGE_SHAPE, REGIONS, SPEC_COLUMNS, SPEC_WINDOW
from ..core.errors import HMSDataError
from .eegspec import eeg_mels
from .image import spec_row
from .store import FORMAT, PARTS, Store

__all__ = ['prepare']

EEG_CHUNK, SPEC_CHUNK_ROWS, MEL_BATCH = 256, 200_000, 64


def _bar(items, comment: str):
    """A fastprogress bar over `items` labelled with `comment`."""
    bar = progress_bar(items)
    bar.comment = comment
    return bar


def _stamp(path: Path) -> list:
    """What identifies a source file's version: its size and modification time."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _key(*parts) -> str:
    """A short content key for a chunk from everything that determines its contents."""
    return hashlib.sha1(json.dumps([FORMAT, *parts], default=str).encode()).hexdigest()[:16]


def _check_manifest(cache: Path, root: Path):
    """Refuse a cache built from another data root or in another format; start a new one if empty."""
    mf = cache / 'manifest.json'
    want = {'format': FORMAT, 'data_root': str(root.resolve())}
    if mf.exists():
        have = json.loads(mf.read_text())
        if have.get('format') != FORMAT:
            raise HMSDataError(cache, f"cache format {have.get('format')} is not the current {FORMAT}: delete it or use another --cache")
        if have.get('data_root') != want['data_root']:
            raise HMSDataError(cache, f"cache was built from {have.get('data_root')}, not {want['data_root']}: use another --cache")
        return
    if cache.exists() and any(cache.iterdir()): raise HMSDataError(cache, 'not an hms_fastai cache (no manifest.json) and not empty')
    cache.mkdir(parents=True, exist_ok=True)
    with atomic_path(mf) as tmp: tmp.write_text(json.dumps(want))


def _save_npy(path: Path, a: np.ndarray):
    """Write an array atomically as .npy."""
    with atomic_path(path, '.npy') as tmp: np.save(tmp, a)


def _eeg_window(eeg: pd.DataFrame, start: int, where) -> np.ndarray:
    """The 10,000-sample window of an EEG starting at sample `start` (HMSDataError if it does not fit)."""
    if start + EEG_WINDOW > len(eeg):
        raise HMSDataError(where, f'50 s window at {start / EEG_RATE:g} s runs past the end of the {len(eeg) / EEG_RATE:g} s file')
    return eeg.to_numpy()[start:start + EEG_WINDOW]


def _eeg_starts(table: pd.DataFrame, comp, split: str) -> np.ndarray:
    """First sample of each row's EEG window: train at the mean of min/max offsets, test the middle 50 s."""
    if split == 'train': return ((table.eeg_offset_min + table.eeg_offset_max) / 2 * EEG_RATE).astype(np.int64).to_numpy()
    rows = [parquet_file(comp.eeg_path(i, 'test')).metadata.num_rows for i in table.eeg_id]
    return np.array([(n - EEG_WINDOW) // 2 for n in rows], np.int64)


def _spec_ranges(table: pd.DataFrame, split: str) -> pd.DataFrame:
    """Per spectrogram the row range [lo, hi) that the crops of its eeg rows need."""
    r = table.assign(row=[spec_row(a, b) for a, b in zip(table.spec_offset_min, table.spec_offset_max)] if split == 'train' else 0)
    g = r.groupby('spectrogram_id').row.agg(['min', 'max'])
    return pd.DataFrame({'spectrogram_id': g.index, 'lo': g['min'].to_numpy(), 'hi': g['max'].to_numpy() + SPEC_WINDOW})


def _spec_chunks(ranges: pd.DataFrame) -> list:
    """Split the spectrograms into chunks of at most SPEC_CHUNK_ROWS stored rows."""
    chunks, cur, rows = [], [], 0
    for i, n in enumerate((ranges.hi - ranges.lo).to_numpy()):
        if cur and rows + n > SPEC_CHUNK_ROWS: chunks.append(cur); cur, rows = [], 0
        cur.append(i); rows += n
    return chunks + ([cur] if cur else [])


def _build_spec_chunk(comp, split: str, part: pd.DataFrame, path: Path, pool) -> pd.DataFrame:
    """Read a chunk's spectrograms (in parallel) and save their needed rows concatenated; return the index."""
    def one(r):
        values = read_spectrogram(comp.spec_path(r.spectrogram_id, split))[SPEC_COLUMNS].to_numpy()
        if r.lo >= len(values): raise HMSDataError(comp.spec_path(r.spectrogram_id, split), f'crop at row {r.lo} starts past the end ({len(values)} rows)')
        return values[r.lo:r.hi]
    parts = list(pool.map(one, part.itertuples()))
    _save_npy(path, np.concatenate(parts).astype(np.float32))
    return part.assign(n=[len(p) for p in parts], offset=np.cumsum([0] + [len(p) for p in parts[:-1]]))


def _build_mel_chunk(comp, split: str, part: pd.DataFrame, path: Path, pool, device):
    """Read a chunk's EEG windows (in parallel), compute their mel images in batches, save as float16."""
    def one(r): return _eeg_window(read_eeg(comp.eeg_path(r.eeg_id, split)), int(r.eeg_start), comp.eeg_path(r.eeg_id, split))
    x = np.stack(list(pool.map(one, part.itertuples())))
    out = np.empty((len(x), len(REGIONS), *IMAGE_SHAPE), np.float16)
    for i in range(0, len(x), MEL_BATCH):
        out[i:i + MEL_BATCH] = eeg_mels(torch.from_numpy(x[i:i + MEL_BATCH]).to(device)).cpu().numpy()
    _save_npy(path, out)


def _prepare_specs(comp, cache: Path, table: pd.DataFrame, split: str, pool) -> pd.DataFrame:
    """Build (or reuse) the spectrogram chunks; return the spectrogram index."""
    ranges = _spec_ranges(table, split).sort_values('spectrogram_id').reset_index(drop=True)
    index = []
    for idx in _bar(_spec_chunks(ranges), 'spectrograms'):
        part = ranges.iloc[idx]
        key = _key('spec', split, [[int(r.spectrogram_id), int(r.lo), int(r.hi), _stamp(comp.spec_path(r.spectrogram_id, split))] for r in part.itertuples()])
        path, ipath = cache / split / f'spec_{key}.npy', cache / split / f'spec_{key}.parquet'
        if not (path.exists() and ipath.exists()):
            built = _build_spec_chunk(comp, split, part, path, pool)
            with atomic_path(ipath, '.parquet') as tmp: built.to_parquet(tmp, index=False)
        index.append(pd.read_parquet(ipath).assign(file=path.name))
    return pd.concat(index, ignore_index=True)


def _prepare_mels(comp, cache: Path, table: pd.DataFrame, split: str, pool, device) -> pd.DataFrame:
    """Build (or reuse) the EEG mel chunks; return eeg_id → (file, position)."""
    index = []
    for start in _bar(range(0, len(table), EEG_CHUNK), 'EEG mel images'):
        part = table.iloc[start:start + EEG_CHUNK]
        key = _key('eeg', split, [[int(r.eeg_id), int(r.eeg_start), _stamp(comp.eeg_path(r.eeg_id, split))] for r in part.itertuples()])
        path = cache / split / f'mel_{key}.npy'
        if not path.exists(): _build_mel_chunk(comp, split, part, path, pool, device)
        index.append(pd.DataFrame({'eeg_id': part.eeg_id.to_numpy(), 'eeg_file': path.name, 'eeg_pos': np.arange(len(part))}))
    return pd.concat(index, ignore_index=True)


def prepare(data, cache_dir, split: str = 'train', parts=PARTS, device=None) -> Store:
    """Read each parquet of `split` of `data` (a folder or Competition) once, in parallel, into memory-mapped chunks; the Store."""
    if split not in ('train', 'test'): raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    comp = data if isinstance(data, Competition) else load_competition(data, train=split == 'train')
    if split == 'train' and comp.train is None: raise ValueError('a Competition loaded with train=False has no train split')
    root, cache = comp.root, Path(cache_dir)
    _check_manifest(cache, root)
    (cache / split).mkdir(exist_ok=True)
    table = eeg_table(comp.train if split == 'train' else comp.test, root / f'{split}.csv').sort_values('eeg_id').reset_index(drop=True)
    table['eeg_start'] = _eeg_starts(table, comp, split)
    table['spec_row'] = [spec_row(a, b) for a, b in zip(table.spec_offset_min, table.spec_offset_max)] if split == 'train' else 0
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    with ThreadPoolExecutor(num_cpus()) as pool:  # pyarrow releases the GIL
        specs = _prepare_specs(comp, cache, table, split, pool) if 'spec' in parts else None
        mels = _prepare_mels(comp, cache, table, split, pool, device) if 'eeg' in parts else None
    if mels is not None: table = table.merge(mels, on='eeg_id', how='left')
    if specs is not None:
        table = table.merge(specs[['spectrogram_id', 'file', 'offset', 'lo', 'n']].rename(columns={'file': 'spec_file'}), on='spectrogram_id', how='left')
    with atomic_path(cache / split / 'index.parquet', '.parquet') as tmp: table.to_parquet(tmp, index=False)
    _remove_stale(cache / split, table, parts)
    return Store.open(cache, split, [c for c in CHANNELS if c.split('_')[0] in parts])


def _remove_stale(folder: Path, table: pd.DataFrame, parts):
    """Delete the prepared parts' chunk files that the new index no longer refers to, and leftover temp files."""
    keep = set(table.get('eeg_file', [])) | set(table.get('spec_file', []))
    keep |= {f.replace('.npy', '.parquet') for f in keep}
    prefixes = tuple({'spec': 'spec_', 'eeg': 'mel_'}[p] for p in parts)
    for f in folder.iterdir():
        if (f.name.startswith(prefixes) and f.name not in keep) or f.name.endswith(('.tmp.npy', '.tmp.parquet')): f.unlink()


