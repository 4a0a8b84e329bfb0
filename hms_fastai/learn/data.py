"""fastai data: eeg-level rows → batches of raw label windows from the store → a kind's inputs on the device; soft votes."""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from fastai.data.block import DataBlock, TransformBlock
from fastai.data.core import DataLoaders, Datasets, TfmdDL
from fastai.data.load import fa_collate
from fastai.data.transforms import ColSplitter
from fastai.torch_core import TensorBase, TensorImage, default_device, set_seed, to_detach
from fastcore.meta import delegates
from fasttransform import Transform

from ..core.constants import CLASSES, EEG_RATE, EEG_WINDOW, SIGNAL_CHANNELS, TARGET_LEVELS, TARGETS, WINDOWS, part_of
from ..core.errors import HMSDataError
from ..core.train_args import TrainArgs, parse_channels
from ..signals.plots import show_image
from .kinds import Kind, get_kind

__all__ = ['HMSTensorImage', 'EEGSignal', 'Votes', 'EEGRef', 'StoreInput', 'InputAssembly', 'HMSDataLoader', 'VoteTarget',
           'WeightedVotes', 'VOTE_SCALE', 'StoreBlock', 'VoteBlock', 'dl_kind', 'dl_channels', 'dl_parts', 'check_fold_table',
           'place_store', 'hms_dls', 'hms_test_dl', 'vote_title']


VOTE_SCALE = 20                  # votes that weigh a row 1 when training is vote-weighted


def vote_title(votes) -> str:
    """A vote distribution as a short title: 'Seizure 0.62 LPD 0.10 …'."""
    return ' '.join(f'{c} {float(v):.2f}' for c, v in zip(CLASSES, votes))


class HMSTensorImage(TensorImage):
    """A (C, 128, 256) image whose `show` draws one labelled panel per channel (names in `.channels` if set)."""

    def show(self, ctx=None, title: str | None = None, **kwargs):
        """Draw the channels into `ctx` (axes, a (sub)figure, or a new figure); return the figure."""
        if hasattr(ctx, 'subplots'): ctx = ctx.subplots(1, len(self))
        return show_image(self, title=title, axs=ctx, channels=getattr(self, 'channels', None))


class EEGSignal(TensorBase):
    """(C, T) band-passed bipolar EEG chains; `show` draws them as traces, one row each."""

    def show(self, ctx=None, title: str | None = None, **kwargs):
        """Draw the traces into `ctx` (axes or a figure), offset one below the other; return the axes."""
        ax = ctx if hasattr(ctx, 'plot') else (ctx.subplots() if ctx is not None else plt.subplots(figsize=(12, 6))[1])
        x = np.asarray(self.detach().float().cpu())
        t = np.arange(x.shape[-1]) * (EEG_WINDOW / EEG_RATE) / x.shape[-1]      # the window's 50 s
        ax.plot(t, (x - 3 * np.arange(len(x))[:, None]).T, lw=0.5, color='k')
        ax.set_yticks(-3 * np.arange(len(x)), getattr(self, 'channels', SIGNAL_CHANNELS)[:len(x)])
        ax.set_xlabel('time (s)')
        if title: ax.set_title(title)
        return ax


class Votes(TensorBase):
    """The 6 vote fractions of an eeg-level row, in TARGETS order (a soft label summing to 1)."""

    def show(self, ctx=None, **kwargs):
        """Title the figure `ctx` (as drawn by the image) with the distribution; return it."""
        if ctx is not None: ctx.suptitle(vote_title(self))
        return ctx


class EEGRef(int):
    """A dataset item's input: the eeg's row in its store, and the stored window to read (-1: the DataLoader's choice)."""

    def __new__(cls, row: int, window: int = -1):
        ref = super().__new__(cls, row)
        ref.window = int(window)
        return ref


class StoreInput(Transform):
    """Eeg-level table row → its EEGRef in `store`, read as the input of a `kind` (the registry's name)."""

    def __init__(self, store=None, kind: str = 'image', channels: list[str] | None = None):   # channels: the model's inputs
        super().__init__()
        self.store, self.kind = store, get_kind(kind).name
        self.channels = list(channels if channels is not None else get_kind(kind).input_channels(None))

    def encodes(self, row) -> EEGRef:
        """The row's place in the store (HMSDataError if its eeg_id is not there), and its `window` column where it has one."""
        return EEGRef(self.store.rows([row['eeg_id']])[0], row.get('window', -1))

    def decodes(self, ref: EEGRef):
        """The centre-window input of a single item (e.g. for `show_at`), tagged with its channel names."""
        assembly = get_kind(self.kind).assembly()
        assembly.channels = self.channels
        return assembly(self.store.raw([ref], mels=get_kind(self.kind).mels))[0].cpu()


class InputAssembly(Transform):
    """The first batch transform of an HMS DataLoader: a batch's raw windows → the model's input, on their device."""
    order = -10

    def setups(self, dl):
        """Remember the channel names of the DataLoader's inputs (for `show`)."""
        self.channels = dl_channels(dl)


class HMSDataLoader(TfmdDL):
    """fastai's TfmdDL reading a batch with one gather per part from the store; training items at `windows`, others centre."""
    # training batches go towards `targets`; test items that name a stored window are read there

    def __init__(self, dataset=None, windows: str = TrainArgs.windows, jitter: float = 0.0,
                 targets: str = TrainArgs.targets,   # training targets: their windows' votes ('window'), or the items' own ('eeg')
                 **kwargs):
        if windows not in WINDOWS: raise ValueError(f'windows must be one of {WINDOWS}, got {windows!r}')
        if targets not in TARGET_LEVELS: raise ValueError(f'targets must be one of {TARGET_LEVELS}, got {targets!r}')
        self.windows, self.jitter, self.targets = windows, jitter, targets
        super().__init__(dataset, **kwargs)

    def _read_at(self, store, rows: np.ndarray, refs: list, training: bool):
        """Where a batch is read: a drawn window per item (random training), the windows the items name, or 'centre'."""
        named = np.array([r.window for r in refs])
        if (named >= 0).any():
            if training or not (named >= 0).all(): raise ValueError('items naming windows must fill a whole inference batch')
            return named
        return store.draw(rows) if training and self.windows == 'random' else 'centre'

    def create_batch(self, b):
        """(raw windows, targets…) of the items `b`: signals gathered at once, targets collated as fastai does."""
        # targets='window': a training batch's targets are its windows' votes, at the weight the target block gave each item
        training, tfm = getattr(self.dataset, 'split_idx', None) == 0, _input_tfm(self)
        rows = np.array([int(s[0]) for s in b], np.int64)
        at = self._read_at(tfm.store, rows, [s[0] for s in b], training)
        raw = tfm.store.raw(rows, at, self.jitter if training else 0.0, mels=get_kind(tfm.kind).mels)
        if len(b[0]) == 1: return (raw,)
        ys = fa_collate([s[1:] for s in b])
        if training and self.targets == 'window':
            windows = tfm.store.nearest(rows) if isinstance(at, str) else at     # centre: the label window it stands for
            weight = (ys[0].sum(-1, keepdim=True) * VOTE_SCALE).round() / VOTE_SCALE  # exactly 1, or total_votes / 20
            ys = (Votes(torch.from_numpy(tfm.store.votes(windows)) * weight), *ys[1:])
        return (raw, *ys)

    def retain(self, res, b):
        """The batch as made: its raw windows are not the items' types (fastai would cast them)."""
        return res

    def to_detach(self, b, cpu: bool = True, gather: bool = True):
        """Detached (and on the CPU): never gathered across processes, as every process reads this whole DataLoader."""
        return to_detach(b, cpu, gather=False)

    def new(self, dataset=None, cls=None, **kwargs):
        """A DataLoader like this one (same windows, jitter and targets) over `dataset`."""
        return super().new(dataset, cls, **{'windows': self.windows, 'jitter': self.jitter, 'targets': self.targets, **kwargs})


class VoteTarget(Transform):
    """Eeg-level table row → its vote fractions as a float32 `Votes` tensor."""

    def encodes(self, row) -> Votes:
        """The TARGETS columns of `row`."""
        return Votes(torch.from_numpy(np.asarray(row[TARGETS], dtype=np.float32)))


def StoreBlock(store, kind: str = 'image', channels: list[str] | None = None,  # the model's inputs (None: from the store's)
               windows: str = TrainArgs.windows, jitter: float = 0.0,
               targets: str = TrainArgs.targets) -> TransformBlock:  # 'window': training batches go towards their windows' own votes
    """Input block: rows → a kind's inputs read from `store` (each training batch at random label windows, or the centre)."""
    k = get_kind(kind)
    if channels is None and k.store_channels is None: channels = store.channels
    return TransformBlock(type_tfms=StoreInput(store, k.name, k.input_channels(channels)), batch_tfms=k.assembly(),
                          dl_type=HMSDataLoader, dls_kwargs={'windows': windows, 'jitter': jitter, 'targets': targets})


class WeightedVotes(VoteTarget):
    """Training rows' vote fractions × total_votes / 20: the KL loss then weighs a row by its votes (2nd place's stage 1)."""
    split_idx = 0                  # validation rows keep plain fractions (VoteTarget), so the metrics are the Kaggle KL

    def encodes(self, row) -> Votes:
        """The TARGETS columns of `row`, scaled by its weight (KL of scaled targets: the same gradient, weighted)."""
        return Votes(torch.from_numpy(np.asarray(row[TARGETS], dtype=np.float32) * np.float32(row['total_votes'] / VOTE_SCALE)))


def VoteBlock(weighted: bool = False) -> TransformBlock:
    """Target block: rows → soft vote distributions (not a CategoryBlock: the targets are probabilities), vote-weighted."""
    return TransformBlock(type_tfms=[WeightedVotes(), VoteTarget(split_idx=1)] if weighted else VoteTarget())


def _input_tfm(data) -> StoreInput:
    """The StoreInput transform of DataLoaders, a DataLoader or Datasets."""
    ds = data.valid_ds if isinstance(data, DataLoaders) else getattr(data, 'dataset', data)
    found = [f for f in ds.tls[0].tfms.fs if isinstance(f, StoreInput)]
    if not found: raise ValueError('these DataLoaders were not made by hms_dls: no StoreInput input transform')
    return found[0]


def dl_kind(data) -> Kind:
    """The kind of input of DataLoaders, a DataLoader or Datasets made by `hms_dls`."""
    return get_kind(_input_tfm(data).kind)


def dl_channels(data) -> list[str]:
    """Channel names of the inputs of DataLoaders, a DataLoader or Datasets made by `hms_dls`."""
    return _input_tfm(data).channels


def dl_parts(data) -> set:
    """The store parts ('spec', 'eeg') the inputs of DataLoaders (or a DataLoader) read."""
    tfm = _input_tfm(data)
    return {part_of(c) for c in get_kind(tfm.kind).reads(tfm.channels)}


def check_fold_table(table: pd.DataFrame, fold: int,
                     bs: int | None = None):   # refuse a fold with fewer training rows than one batch of this size
    """HMSDataError unless `table` has ids, targets and a `fold` column giving non-empty train and valid sets."""
    need = [c for c in ['eeg_id', 'fold', 'expert', *TARGETS] if c not in table.columns]
    if need: raise HMSDataError('table', f'missing column(s) {need} (folds come from meta.fold_table)')
    n_valid = int((table['fold'] == fold).sum())
    if n_valid in (0, len(table)):
        raise HMSDataError('table', f'fold {fold} leaves {"no validation" if n_valid == 0 else "no training"} rows '
                                    f'(folds present: {sorted(set(table["fold"]))})')
    if bs is not None and len(table) - n_valid < bs:      # fastai drops a training batch short of bs: it would train nothing
        raise HMSDataError('bs', f'fold {fold} has {len(table) - n_valid} training rows, fewer than one batch (bs={bs}): '
                                 f'lower the batch size or use fewer folds')


_REPORTED = set()                # (cache, split, parts) whose placement was printed


def place_store(store, resident: bool | None,  # True: hold it on the device; None: on a GPU with room for it; False: never
                parts=None) -> object:          # the stored parts to hold (default: what the store's channels read)
    """`store` with `parts` held on the device when asked (None: on a GPU when they fit in half its free memory), else as is."""
    parts = tuple(parts or store.reads())
    if resident is None:
        if not torch.cuda.is_available(): return store
        size, free = sum(store.nbytes(parts).values()), torch.cuda.mem_get_info()[0]
        resident = size < 0.5 * free
        key = (str(store.cache), store.split, parts)
        if key not in _REPORTED:
            _REPORTED.add(key)
            where = f'held on {default_device()}' if resident else 'read from memory maps (more than half the free GPU memory)'
            print(f'{store.split} store: {", ".join(parts)} ({size / 1e9:.2f} GB) {where}; GPU free {free / 1e9:.1f} GB', flush=True)
    return store.to(default_device(), parts) if resident else store


@delegates(DataBlock.dataloaders)
def hms_dls(table: pd.DataFrame, store, fold: int = 0, kind: str = 'image', bs: int = TrainArgs.bs,
            channels=None,                       # the model's input channels: names, 'spec'/'eeg' (None: all the kind takes)
            batch_tfms=None, windows: str = TrainArgs.windows,  # training windows: 'random' or 'centre'
            jitter: float = 0.0,                 # seconds a training window may move either way
            vote_weight: bool = False,           # training targets scaled by total_votes / 20
            targets: str = TrainArgs.targets,    # training targets: the eeg's votes, or each drawn window's own ('window')
            resident: bool | None = None,        # hold the store on the GPU (None: when it has room)
            num_workers: int = 0, seed: int | None = None, **kwargs) -> DataLoaders:
    """DataLoaders of (a kind's input, votes) for eeg-level `table`: `fold` validates at the centre window, the rest trains."""
    check_fold_table(table, fold, bs)
    k, channels = get_kind(kind), parse_channels(channels)
    store = store.with_channels(k.reads(channels))
    store.rows(table['eeg_id'])                                   # HMSDataError naming any eeg_id not in the store
    if targets == 'window': store.votes([])                       # HMSDataError if its windows keep no votes
    store = place_store(store, resident, store.reads(k.mels, windows))
    if seed is not None: set_seed(seed)
    block = StoreBlock(store, k.name, channels, windows, jitter, targets)
    dblock = DataBlock(blocks=(block, VoteBlock(vote_weight)), splitter=ColSplitter('fold', on=fold), n_inp=1, batch_tfms=batch_tfms)
    pin = torch.cuda.is_available() and store.device is None
    return dblock.dataloaders(table.reset_index(drop=True), bs=bs, num_workers=0 if store.device else num_workers,
                              pin_memory=pin, **kwargs)


@delegates(TfmdDL)
def hms_test_dl(dls: DataLoaders,
                table: pd.DataFrame,   # eeg_id per item (+ window: the stored window to read, numbered as Store.window_table)
                store, bs: int | None = None, **kwargs) -> TfmdDL:
    """Inputs-only DataLoader of `table`'s eegs (centre windows) or windows read from `store` with `dls`'s kind and channels."""
    # dls.test_dl(table) reads the dls's own (training) store; a loaded learner predicts the test split through this.
    tfm = _input_tfm(dls)
    store = store.with_channels(get_kind(tfm.kind).reads(tfm.channels))
    store = place_store(store, None, store.reads(get_kind(tfm.kind).mels))
    store.rows(table['eeg_id'])
    ds = Datasets(table.reset_index(drop=True), [[StoreInput(store, tfm.kind, tfm.channels)]], split_idx=1)
    first = [type(t)() for t in dls.valid.after_batch.fs if isinstance(t, InputAssembly)]
    return HMSDataLoader(ds, bs=bs or dls.valid.bs, after_batch=first, device=dls.device, **{'num_workers': 0, **kwargs})
