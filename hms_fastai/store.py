"""The signal store: a cache of memory-mapped spectrogram rows and EEG mel images, built once by `prepare`."""
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from fastprogress.fastprogress import progress_bar

from .atomic import atomic_path
from .constants import CHANNELS, EEG_RATE, EEG_WINDOW, IMAGE_SHAPE, REGIONS, SPEC_COLUMNS, SPEC_WINDOW
from .eegspec import eeg_mels
from .errors import HMSDataError
from .image import spec_image, spec_row, spec_window
from .io import load_competition, read_eeg, read_spectrogram
from .meta import eeg_table

__all__ = ['prepare', 'Store', 'FORMAT', 'PARTS']

FORMAT = 1                       # bump when the cache layout or the image recipe changes
PARTS = ('spec', 'eeg')          # the two halves a cache can hold
EEG_CHUNK, SPEC_CHUNK_ROWS, MEL_BATCH = 256, 200_000, 64
_HALVES = {part: [f'{part}_{r}' for r in REGIONS] for part in PARTS}   # channel names of each half


def _workers() -> int:
    """Threads for parquet reading: the machine's cores (pyarrow releases the GIL)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1)


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
    rows = [_pq_rows(comp.eeg_path(i, 'test')) for i in table.eeg_id]
    return np.array([(n - EEG_WINDOW) // 2 for n in rows], np.int64)


def _pq_rows(path: Path) -> int:
    """Number of rows of a parquet file from its footer (HMSDataError if unreadable)."""
    import pyarrow.parquet as pq
    try: return pq.ParquetFile(path).metadata.num_rows
    except Exception as e: raise HMSDataError(path, f'not a readable parquet file ({type(e).__name__}: {e})') from None


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
    out = np.empty((len(x), len(REGIONS), 128, 256), np.float16)
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


def prepare(data_root, cache_dir, split: str = 'train', parts=PARTS, device=None) -> 'Store':
    """Read each parquet of `split` once (in parallel) into memory-mapped chunks in `cache_dir`; return the Store."""
    if split not in ('train', 'test'): raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root, cache = Path(data_root), Path(cache_dir)
    comp = load_competition(root, train=split == 'train')
    _check_manifest(cache, root)
    (cache / split).mkdir(exist_ok=True)
    table = eeg_table(comp.train if split == 'train' else comp.test, root / f'{split}.csv').sort_values('eeg_id').reset_index(drop=True)
    table['eeg_start'] = _eeg_starts(table, comp, split)
    table['spec_row'] = [spec_row(a, b) for a, b in zip(table.spec_offset_min, table.spec_offset_max)] if split == 'train' else 0
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    with ThreadPoolExecutor(_workers()) as pool:
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


class Store:
    """Open cache of one split: `image(eeg_id)` → (C, 128, 256) float32 in CHANNELS order, memory-mapped."""

    def __init__(self, cache_dir, split: str, index: pd.DataFrame, channels=CHANNELS):
        self.cache, self.split, self.index = Path(cache_dir), split, index
        self.channels = [c for c in CHANNELS if c in channels]
        if len(self.channels) != len(channels): raise ValueError(f'unknown channel(s) in {channels}; known: {CHANNELS}')
        missing = [p for p, names in _HALVES.items() if set(names) & set(self.channels) and f'{p}_file' not in index]
        if missing: raise HMSDataError(self.cache, f'the cache has no {missing} part: run prepare with it')
        self.row = {int(e): i for i, e in enumerate(index.eeg_id)}
        self._cols = {c: index[c].to_numpy() for c in ('spec_file', 'offset', 'n', 'lo', 'spec_row', 'eeg_file', 'eeg_pos') if c in index}
        self._pick = [(part, [names.index(c) for c in self.channels if c in names]) for part, names in _HALVES.items()]
        self._pick = [(part, idx) for part, idx in self._pick if idx]
        self._maps = {}

    @classmethod
    def open(cls, cache_dir, split: str = 'train', channels=CHANNELS) -> 'Store':
        """Open a prepared cache (HMSDataError if it was not prepared for `split`)."""
        path = Path(cache_dir) / split / 'index.parquet'
        if not path.exists(): raise HMSDataError(cache_dir, f'no prepared {split} cache here: run `hms-fastai prepare --split {split}` first')
        return cls(cache_dir, split, pd.read_parquet(path), channels)

    def with_channels(self, channels) -> 'Store':
        """The same cache showing another channel subset."""
        return Store(self.cache, self.split, self.index, channels)

    @property
    def table(self) -> pd.DataFrame:
        """The eeg-level table of this split."""
        return self.index

    def _map(self, name: str) -> np.ndarray:
        """A chunk file, memory-mapped once."""
        if name not in self._maps: self._maps[name] = np.load(self.cache / self.split / name, mmap_mode='r')
        return self._maps[name]

    def _spec_rows(self, i: int) -> tuple:
        """The stored spectrogram rows of index row `i` and where its crop starts in them."""
        c = self._cols
        return self._map(c['spec_file'][i])[c['offset'][i]:c['offset'][i] + c['n'][i]], int(c['spec_row'][i] - c['lo'][i])

    def _half(self, i: int, part: str) -> np.ndarray:
        """One half of the image of index row `i`: the Kaggle spectrogram crop (float32) or the EEG mel image (float16)."""
        if part == 'spec': return spec_image(*self._spec_rows(i))
        return self._map(self._cols['eeg_file'][i])[self._cols['eeg_pos'][i]]

    def _row(self, eeg_id: int) -> int:
        """Index row of an eeg_id (HMSDataError if it is not in this cache)."""
        i = self.row.get(int(eeg_id))
        if i is None: raise HMSDataError(self.cache, f'eeg_id {eeg_id} is not in the {self.split} cache')
        return i

    def spec_window(self, eeg_id: int) -> np.ndarray:
        """The raw (300, 400) Kaggle-spectrogram rows of an eeg_id's crop, NaN past the file's end."""
        return spec_window(*self._spec_rows(self._row(eeg_id)))

    def image(self, eeg_id: int) -> np.ndarray:
        """The (C, 128, 256) float32 image of one eeg_id, channels in CHANNELS order."""
        i = self._row(eeg_id)
        out, k = np.empty((len(self.channels), *IMAGE_SHAPE), np.float32), 0
        for part, idx in self._pick:
            half = self._half(i, part)
            out[k:k + len(idx)] = half if len(idx) == len(REGIONS) else half[idx]
            k += len(idx)
        return out

    def images(self, eeg_ids) -> np.ndarray:
        """(n, C, 128, 256) float32 images of several eeg_ids."""
        return np.stack([self.image(i) for i in eeg_ids])

    def __getstate__(self):
        return {**self.__dict__, '_maps': {}}

    def __len__(self): return len(self.index)

    def __repr__(self): return f'Store({str(self.cache)!r}, {self.split!r}, {len(self)} eegs, channels={self.channels})'
