"""Reading the signal cache: `Store` serves the images of one prepared split from its memory-mapped chunks."""
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.constants import CHANNELS, IMAGE_SHAPE, REGIONS
from ..core.errors import HMSDataError
from .image import spec_image, spec_window

__all__ = ['Store', 'FORMAT', 'PARTS', 'CACHE_COLUMNS']

FORMAT = 1                       # bump when the cache layout or the image recipe changes
PARTS = ('spec', 'eeg')          # the two halves a cache can hold
HALVES = {part: [f'{part}_{r}' for r in REGIONS] for part in PARTS}   # channel names of each half
# the cache's own bookkeeping in its index: where each row's crop and mel image lie; not part of the user's table
CACHE_COLUMNS = ['eeg_start', 'spec_row', 'eeg_file', 'eeg_pos', 'spec_file', 'offset', 'lo', 'n']


class Store:
    """Open cache of one split: `table` (the eeg-level table), `image(eeg_id)` → (C, 128, 256) float32 in CHANNELS order."""

    def __init__(self, cache_dir, split: str, index: pd.DataFrame, channels=CHANNELS):
        self.cache, self.split, self._index = Path(cache_dir), split, index
        self.channels = [c for c in CHANNELS if c in channels]
        if len(self.channels) != len(channels): raise ValueError(f'unknown channel(s) in {channels}; known: {CHANNELS}')
        self.parts = tuple(p for p in PARTS if f'{p}_file' in index)
        missing = [p for p, names in HALVES.items() if set(names) & set(self.channels) and p not in self.parts]
        if missing: raise HMSDataError(self.cache, f'the cache has no {missing} part: run prepare with it')
        self.table = index.drop(columns=CACHE_COLUMNS, errors='ignore')
        self.row = {int(e): i for i, e in enumerate(index.eeg_id)}
        self._cols = {c: index[c].to_numpy() for c in CACHE_COLUMNS if c in index}
        self._pick = [(part, [names.index(c) for c in self.channels if c in names]) for part, names in HALVES.items()]
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
        return Store(self.cache, self.split, self._index, channels)

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

    def __len__(self): return len(self._index)

    def __repr__(self): return f'Store({str(self.cache)!r}, {self.split!r}, {len(self)} eegs, channels={self.channels})'
