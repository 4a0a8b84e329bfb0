"""Reading the signal cache: `Store` gathers batches of raw label windows of one prepared split from memory-mapped chunks."""
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..core.constants import CHANNELS, EEG_RATE, EEG_WINDOW, HALVES, PARTS, SPEC_STEP, SPEC_WINDOW, TARGETS, WINDOWS
from ..core.errors import HMSDataError, show_ids
from .image import assemble

__all__ = ['Store', 'FORMAT', 'CACHE_COLUMNS', 'EEG_NAN', 'csv_windows']

FORMAT = 3                       # bump when the cache layout or the image recipe changes (3: 16-bit chunks, each label window's votes)
EEG_NAN = -32_768                # the stored EEG step that stands for NaN (steps are within ±32,767)
# Every part takes 16 bits a value (half of float32's: the full competition's store fits Kaggle's 20 GB working folder):
# the spectrogram power as float16, clipped to its range (the recipe clips it to [e^-4, e^8] before its log anyway);
# each eeg's bipolar differences as int16 steps of a per-chain scale (µV = step × eeg_scale[chain], the chain's largest
# |µV| / 32,767); the centre mels as float16, made from the float32 differences.
# The cache's own bookkeeping in its index, per eeg (not part of the user's table): its centre window (centre_spec_s: crop
# start in s; centre_start: first EEG sample); its spectrogram rows: spec_file, spec_base (chunk row of file row 0),
# spec_stop (chunk row after its last), spec_lo/spec_hi (the stored file rows), spec_rows (the file's rows); its bipolar
# EEG: eeg_file, eeg_base (chunk sample of file sample 0), eeg_lo/eeg_hi (the stored file samples), eeg_scale (µV per
# step, 16 chains); mel_file/mel_pos (the centre window's mels); win_first/win_count (its rows of windows.parquet: spec_s,
# start, jitter_lo/hi in samples and, in a train split, the window's votes: TARGETS as fractions, total_votes).
CACHE_COLUMNS = ['centre_spec_s', 'centre_start', 'spec_file', 'spec_base', 'spec_stop', 'spec_lo', 'spec_hi', 'spec_rows',
                 'eeg_file', 'eeg_base', 'eeg_lo', 'eeg_hi', 'eeg_scale', 'mel_file', 'mel_pos', 'win_first', 'win_count']
_FILES = {'spec': 'spec_file', 'eeg': 'eeg_file', 'mel': 'mel_file'}


def csv_windows(rows: pd.DataFrame) -> pd.DataFrame:
    """The window of each csv row with offsets (train.csv, a test.csv with them): eeg_id, spec_s (crop start, s), start."""
    return pd.DataFrame({'eeg_id': rows.eeg_id.to_numpy(), 'spec_s': rows.spectrogram_label_offset_seconds.to_numpy(float),
                         'start': (rows.eeg_label_offset_seconds * EEG_RATE).to_numpy().astype(np.int64)})


class Store:
    """One prepared split: `table` (the eeg-level table), `raw(rows, ...)` (a batch of raw windows), `image(eeg_id)`."""

    def __init__(self, cache_dir, split: str, index: pd.DataFrame, windows: pd.DataFrame, channels=CHANNELS):
        self.cache, self.split, self._index, self._windows = Path(cache_dir), split, index, windows
        self.parts = tuple(p for p in PARTS if _FILES[p] in index)
        self.table = index.drop(columns=CACHE_COLUMNS, errors='ignore')
        self.row = {int(e): i for i, e in enumerate(index.eeg_id)}
        self._col = {c: index[c].to_numpy() for c in CACHE_COLUMNS if c in index}
        if 'eeg_scale' in index: self._col['eeg_scale'] = np.array(index.eeg_scale.tolist(), np.float32).reshape(len(index), -1)
        self._win = {c: windows[c].to_numpy() for c in ('spec_s', 'start', 'jitter_lo', 'jitter_hi')}
        if set(TARGETS) <= set(windows): self._win['votes'] = windows[TARGETS].to_numpy(np.float32)
        self._owner = np.repeat(np.arange(len(index)), self._col['win_count'])      # each window's index row
        self._nearest = self._nearest_windows()
        self._files = {p: sorted(set(index[col])) for p, col in _FILES.items() if col in index}
        self._code = {p: np.searchsorted(self._files[p], index[_FILES[p]].to_numpy()) for p in self._files}
        self._maps, self._resident = {}, {}
        self._show(channels)

    def _show(self, channels):
        """Set the channels this view of the cache reads (HMSDataError if the cache lacks a part they need)."""
        self.channels = [c for c in CHANNELS if c in channels]
        if len(self.channels) != len(channels): raise ValueError(f'unknown channel(s) in {channels}; known: {CHANNELS}')
        missing = [p for p, names in HALVES.items() if set(names) & set(self.channels) and p not in self.parts]
        if missing: raise HMSDataError(self.cache, f'the cache has no {missing} part: run prepare with it')
        self._need = {p for p in self.parts if set(HALVES[p]) & set(self.channels)}
        computed = [c for p in PARTS if p in self._need for c in HALVES[p]]      # the halves `assemble` will make
        self._pick = torch.tensor([computed.index(c) for c in self.channels])

    def _nearest_windows(self) -> np.ndarray:
        """Per index row, its window nearest the centre window (by EEG start; of equals, the earliest)."""
        order = np.lexsort((np.abs(self._win['start'] - self._col['centre_start'][self._owner]), self._owner))
        return order[self._col['win_first']]

    @classmethod
    def open(cls, cache_dir, split: str = 'train', channels=CHANNELS) -> 'Store':
        """Open a prepared cache (HMSDataError if it was not prepared for `split`)."""
        folder = Path(cache_dir) / split
        if not (folder / 'index.parquet').exists():
            raise HMSDataError(cache_dir, f'no prepared {split} cache here: run `hms-fastai prepare --split {split}` first')
        return cls(cache_dir, split, pd.read_parquet(folder / 'index.parquet'), pd.read_parquet(folder / 'windows.parquet'), channels)

    def with_channels(self, channels) -> 'Store':
        """The same cache showing another channel subset (sharing its index, memory maps and what is held on a device)."""
        new = object.__new__(Store)
        new.__dict__.update(self.__dict__)
        new._show(channels)
        return new

    def windows(self, eeg_id: int) -> pd.DataFrame:
        """The label windows of an eeg_id: spec_s (crop start, s), start (EEG sample), jitter_lo/hi (samples they may move)."""
        i = self.rows([eeg_id])[0]
        first, n = self._col['win_first'][i], self._col['win_count'][i]
        return self._windows.iloc[first:first + n].reset_index(drop=True)

    def window_table(self) -> pd.DataFrame:
        """Every stored window: eeg_id, spec_s, start, window (its number, for `raw`), centre (it is its eeg's centre window)."""
        c, rows = self._col, self._owner
        centre = (self._win['start'] == c['centre_start'][rows]) & (self._win['spec_s'] == c['centre_spec_s'][rows])
        return pd.DataFrame({'eeg_id': self._index.eeg_id.to_numpy()[rows], 'spec_s': self._win['spec_s'],
                             'start': self._win['start'], 'window': np.arange(len(rows)), 'centre': centre})

    def locate(self, rows: pd.DataFrame) -> np.ndarray:
        """The stored window of each csv row with offsets (HMSDataError naming the eeg_ids whose windows are not stored)."""
        found = csv_windows(rows).merge(self.window_table(), on=['eeg_id', 'spec_s', 'start'], how='left')
        if found.window.isna().any():
            raise HMSDataError(self.cache, f'windows of eeg_id(s) {show_ids(found.eeg_id[found.window.isna()].unique())} are not '
                                           f'in the {self.split} cache (prepared with --max-seconds?)')
        return found.window.to_numpy(np.int64)

    def draw(self, rows, generator: torch.Generator | None = None) -> np.ndarray:
        """One stored window of each index row in `rows`, drawn uniformly among its eeg's windows."""
        rows, c = np.asarray(rows, np.int64), self._col
        draw = torch.rand(len(rows), generator=generator).numpy()
        return c['win_first'][rows] + np.minimum((draw * c['win_count'][rows]).astype(np.int64), c['win_count'][rows] - 1)

    def nearest(self, rows) -> np.ndarray:
        """Each index row's stored window nearest its centre window (the label window the seed's centre stands for)."""
        return self._nearest[np.asarray(rows, np.int64)]

    def votes(self, windows) -> np.ndarray:
        """(n, 6) float32 vote fractions of stored windows (HMSDataError when the split's windows carry no votes)."""
        if 'votes' not in self._win:
            raise HMSDataError(self.cache, f'the {self.split} cache keeps no votes per window: prepare it again (hms-fastai '
                                           f'prepare), the train split with this version')
        return self._win['votes'][np.asarray(windows, np.int64)]

    def reads(self, mels: bool = True,           # the centre windows' EEG half from the stored mels (images)
              windows: str = 'centre') -> tuple:  # 'random': training windows' EEG from the raw chains too
        """The stored parts ('spec', 'eeg' chains, 'mel' images) that batches of these channels read."""
        eeg = ('mel',) * mels + ('eeg',) * (not mels or windows == 'random') if 'eeg' in self._need else ()
        return ('spec',) * ('spec' in self._need) + eeg

    def to(self, device, parts=None) -> 'Store':
        """Hold `parts` (default: what `reads()` needs) in memory on `device` (e.g. a GPU): batches of them are gathered there."""
        for p in parts or self.reads():
            if p in self._resident: continue
            chunks = [self._chunk(p, f) for f in self._files[p]]
            offsets = np.cumsum([0] + [len(a) for a in chunks])
            values = torch.empty((offsets[-1], *chunks[0].shape[1:]), dtype=getattr(torch, chunks[0].dtype.name), device=device)
            for a, o in zip(chunks, offsets): values[o:o + len(a)].copy_(torch.from_numpy(np.array(a)))  # a chunk at a time
            self._resident[p] = values, offsets[:-1]
        return self

    @property
    def held(self) -> tuple:
        """The parts `to` holds on a device ('spec', 'eeg', 'mel'); the others are read from the memory maps."""
        return tuple(p for p in _FILES if p in self._resident)

    @property
    def device(self) -> torch.device | None:
        """Where `to` put the chunks (None: read from the memory maps on the CPU)."""
        return next(iter(self._resident.values()))[0].device if self._resident else None

    def nbytes(self, parts=None) -> dict:
        """Bytes on disk of each stored part of `parts` (default: all: 'spec' rows, 'eeg' chains, centre 'mel' images)."""
        return {p: sum((self.cache / self.split / f).stat().st_size for f in self._files[p]) for p in parts or self._files}

    def _chunk(self, part: str, name: str) -> np.ndarray:
        """A chunk file, memory-mapped once."""
        if name not in self._maps: self._maps[name] = np.load(self.cache / self.split / name, mmap_mode='r')
        return self._maps[name]

    def _take(self, part: str, rows: np.ndarray, pos: np.ndarray, length: int = 1, stop: np.ndarray | None = None):
        """(n, length, ...) of `part`: `length` consecutive chunk rows from `pos` for index rows `rows` (none from `stop` on)."""
        codes = self._code[part][rows]
        idx = pos[:, None] + np.arange(length)
        if stop is not None: idx = np.minimum(idx, stop[:, None] - 1)
        if part in self._resident:        # one tensor on the device: global positions, one gather
            values, offsets = self._resident[part]
            return values[torch.as_tensor(offsets[codes][:, None] + idx, device=values.device)]
        first = self._chunk(part, self._files[part][codes[0]])
        out = np.empty((*idx.shape, *first.shape[1:]), first.dtype)
        for c in np.unique(codes):        # memory maps: one vectorised gather per chunk file of the batch
            m = codes == c
            out[m] = self._chunk(part, self._files[part][c])[idx[m]]
        return torch.from_numpy(out)

    def raw(self, rows,
            windows='centre',            # 'centre', 'random' (one drawn per row), or the stored windows to read (see `draw`)
            jitter: float = 0.0, generator: torch.Generator | None = None, mels: bool = True) -> dict:
        """Raw signals of index rows `rows` at their centre, a random or a given window each (± `jitter` s); `mels`: centre's."""
        rows = np.asarray(rows, np.int64)
        if isinstance(windows, str) and windows not in WINDOWS:
            raise ValueError(f'windows must be one of {WINDOWS}, got {windows!r}')
        c = self._col
        centre = isinstance(windows, str) and windows == 'centre'
        if centre: spec_s, start = c['centre_spec_s'][rows].astype(float), c['centre_start'][rows]
        else:
            w = self.draw(rows, generator) if isinstance(windows, str) else np.asarray(windows, np.int64)
            if (self._owner[w] != rows).any(): raise ValueError('each window given must be one of its row\'s eeg')
            shift = np.zeros(len(rows), np.int64)
            if jitter:
                want = np.rint((torch.rand(len(rows), generator=generator).numpy() * 2 - 1) * jitter * EEG_RATE)
                shift = np.clip(want, self._win['jitter_lo'][w], self._win['jitter_hi'][w]).astype(np.int64)
            spec_s, start = self._win['spec_s'][w] + shift / EEG_RATE, self._win['start'][w] + shift
        out = {'pick': self._pick}
        if 'spec' in self._need:
            first = c['spec_base'][rows] + (spec_s // SPEC_STEP).astype(np.int64)
            stop = c['spec_stop'][rows]
            crops = self._take('spec', rows, first, SPEC_WINDOW, stop).float()
            past = torch.as_tensor(first[:, None] + np.arange(SPEC_WINDOW) >= stop[:, None], device=crops.device)
            out['spec'] = crops.masked_fill_(past[..., None], float('nan'))     # rows past the file's end: NaN
        if 'eeg' in self._need:
            if centre and mels: out['mel'] = self._take('mel', rows, c['mel_pos'][rows])[:, 0]
            else:
                steps = self._take('eeg', rows, c['eeg_base'][rows] + start, EEG_WINDOW)
                scale = torch.as_tensor(c['eeg_scale'][rows], device=steps.device)[:, None]
                out['eeg'] = (steps.float() * scale).masked_fill_(steps == EEG_NAN, float('nan'))
        return out

    def rows(self, eeg_ids) -> np.ndarray:
        """Index rows of eeg_ids, for `raw` (HMSDataError naming those that are not in this cache)."""
        rows = np.array([self.row.get(int(e), -1) for e in eeg_ids], np.int64)
        if (rows < 0).any():
            raise HMSDataError(self.cache, f'eeg_id(s) {show_ids(np.asarray(eeg_ids)[rows < 0])} are not in the {self.split} cache')
        return rows

    def spec_window(self, eeg_id: int) -> np.ndarray:
        """The raw (300, 400) Kaggle-spectrogram rows of an eeg_id's centre crop, NaN past the file's end."""
        if 'spec' not in self.parts: raise HMSDataError(self.cache, "the cache has no ['spec'] part: run prepare with it")
        return self.with_channels(HALVES['spec']).raw([self.rows([eeg_id])[0]])['spec'][0].cpu().numpy()

    def images(self, eeg_ids, windows: str = 'centre') -> np.ndarray:
        """(n, C, 128, 256) float32 images of eeg_ids at their centre (or a random) window, channels in CHANNELS order."""
        return assemble(self.raw(self.rows(eeg_ids), windows)).cpu().numpy()

    def image(self, eeg_id: int) -> np.ndarray:
        """The (C, 128, 256) float32 centre-window image of one eeg_id."""
        return self.images([eeg_id])[0]

    def __getstate__(self):
        return {'cache': self.cache, 'split': self.split, 'channels': self.channels}   # small: reopened when first used

    def __setstate__(self, state): self.__dict__.update(state)

    def __getattr__(self, name: str):
        """An unpickled Store opens its cache on first use (an exported learner loads without it)."""
        if name.startswith('__') or '_index' in self.__dict__ or 'cache' not in self.__dict__: raise AttributeError(name)
        self.__dict__.update(Store.open(self.cache, self.split, self.channels).__dict__)
        return getattr(self, name)

    def __len__(self): return len(self._index)

    def __repr__(self):
        size = f'{len(self._index)} eegs, ' if '_index' in self.__dict__ else ''
        return f'Store({str(self.cache)!r}, {self.split!r}, {size}channels={self.channels})'
