"""fastai data: eeg-level rows → batches of raw label windows from the store → images on the device; soft vote targets."""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from fastai.data.block import DataBlock, TransformBlock
from fastai.data.core import DataLoaders, Datasets, TfmdDL
from fastai.data.load import fa_collate
from fastai.data.transforms import ColSplitter
from fastai.torch_core import TensorBase, TensorImage, default_device, set_seed, to_detach
from fastcore.basics import store_attr
from fastcore.meta import delegates
from fasttransform import Transform
from plum import dispatch

from ..core.constants import CHANNELS, CLASSES, EEG_RATE, EEG_WINDOW, SIGNAL_CHANNELS, TARGETS
from ..core.defaults import BS
from ..core.errors import HMSDataError
from ..signals.image import assemble
from ..signals.plots import show_image
from ..signals.store import WINDOWS

__all__ = ['FORMS', 'HMSTensorImage', 'EEGSignal', 'Votes', 'EEGRef', 'HMSImage', 'InputAssembly', 'AssembleImages', 'HMSDataLoader', 'VoteTarget', 'WeightedVotes', 'VOTE_SCALE', 'HMSImageBlock',
           'VoteBlock', 'dl_channels', 'dl_parts', 'check_fold_table', 'fold_dls', 'default_windows', 'place_store', 'hms_dls', 'hms_test_dl', 'vote_title']


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
    """A dataset item's input: the eeg's row in its store (the DataLoader reads a whole batch of them at once)."""


FORMS = ('image', 'signal')       # what a model reads: the 8-channel image, or the 16 bipolar EEG chains


class HMSImage(Transform):
    """Eeg-level table row → its EEGRef in `store`, read as an image (or, form 'signal', as raw EEG chains)."""

    def __init__(self, store=None, channels: list[str] | None = None, form: str = 'image'):
        super().__init__()
        if form not in FORMS: raise ValueError(f'form must be one of {FORMS}, got {form!r}')
        store_attr('store,form')
        self.channels = list(SIGNAL_CHANNELS if form == 'signal' else store.channels if store is not None else channels)

    def encodes(self, row) -> EEGRef:
        """The row's place in the store (HMSDataError if its eeg_id is not there)."""
        return EEGRef(self.store.rows([row['eeg_id']])[0])

    def decodes(self, ref: EEGRef) -> HMSTensorImage:
        """The centre-window image of a single item (e.g. for `show_at`), tagged with its channel names."""
        if self.form != 'image': return ref
        return HMSTensorImage(assemble(self.store.raw([ref]))[0].cpu(), channels=self.channels)


class InputAssembly(Transform):
    """The first batch transform of an HMS DataLoader: a batch's raw windows → the model's input, on their device."""
    order = -10

    def setups(self, dl):
        """Remember the channel names of the DataLoader's inputs (for `show`)."""
        self.channels = dl_channels(dl)


class AssembleImages(InputAssembly):
    """The raw windows of a batch → its images, on the batch's device (channels_last on CUDA)."""

    def encodes(self, raw: dict) -> HMSTensorImage:
        """Kaggle crop clip/log/standardise/placement and the EEG mels (or the stored centre mels), batched."""
        x = assemble(raw)
        if x.is_cuda: x = x.contiguous(memory_format=torch.channels_last)
        return HMSTensorImage(x, channels=self.channels)


class HMSDataLoader(TfmdDL):
    """fastai's TfmdDL reading a batch with one gather per part from the store; training items at `windows`, others centre."""

    def __init__(self, dataset=None, windows: str = 'random', jitter: float = 0.0, **kwargs):
        if windows not in WINDOWS: raise ValueError(f'windows must be one of {WINDOWS}, got {windows!r}')
        self.windows, self.jitter = windows, jitter
        super().__init__(dataset, **kwargs)

    def create_batch(self, b):
        """(raw windows, targets…) of the items `b`: signals gathered at once, targets collated as fastai does."""
        training, tfm = getattr(self.dataset, 'split_idx', None) == 0, _input_tfm(self)
        raw = tfm.store.raw([int(s[0]) for s in b], self.windows if training else 'centre', self.jitter, mels=tfm.form == 'image')
        return (raw, *fa_collate([s[1:] for s in b])) if len(b[0]) > 1 else (raw,)

    def retain(self, res, b):
        """The batch as made: its raw windows are not the items' types (fastai would cast them)."""
        return res

    def to_detach(self, b, cpu: bool = True, gather: bool = True):
        """Detached (and on the CPU): never gathered across processes, as every process reads this whole DataLoader."""
        return to_detach(b, cpu, gather=False)

    def new(self, dataset=None, cls=None, **kwargs):
        """A DataLoader like this one (same windows and jitter) over `dataset`."""
        return super().new(dataset, cls, **{'windows': self.windows, 'jitter': self.jitter, **kwargs})


class VoteTarget(Transform):
    """Eeg-level table row → its vote fractions as a float32 `Votes` tensor."""

    def encodes(self, row) -> Votes:
        """The TARGETS columns of `row`."""
        return Votes(torch.from_numpy(np.asarray(row[TARGETS], dtype=np.float32)))


def HMSImageBlock(store, windows: str = 'random', jitter: float = 0.0) -> TransformBlock:
    """Input block: rows → images through `store`, each training batch at random label windows (or the centre)."""
    return TransformBlock(type_tfms=HMSImage(store), batch_tfms=AssembleImages(), dl_type=HMSDataLoader,
                          dls_kwargs={'windows': windows, 'jitter': jitter})


class WeightedVotes(VoteTarget):
    """Training rows' vote fractions × total_votes / 20: the KL loss then weighs a row by its votes (2nd place's stage 1)."""
    split_idx = 0                  # validation rows keep plain fractions (VoteTarget), so the metrics are the Kaggle KL

    def encodes(self, row) -> Votes:
        """The TARGETS columns of `row`, scaled by its weight (KL of scaled targets: the same gradient, weighted)."""
        return Votes(torch.from_numpy(np.asarray(row[TARGETS], dtype=np.float32) * np.float32(row['total_votes'] / VOTE_SCALE)))


def VoteBlock(weighted: bool = False) -> TransformBlock:
    """Target block: rows → soft vote distributions (not a CategoryBlock: the targets are probabilities), vote-weighted."""
    return TransformBlock(type_tfms=[WeightedVotes(), VoteTarget(split_idx=1)] if weighted else VoteTarget())


def _input_tfm(data) -> HMSImage:
    """The HMSImage transform of DataLoaders, a DataLoader or Datasets."""
    ds = data.valid_ds if isinstance(data, DataLoaders) else getattr(data, 'dataset', data)
    found = [f for f in ds.tls[0].tfms.fs if isinstance(f, HMSImage)]
    if not found: raise ValueError('these DataLoaders were not made by hms_dls: no HMSImage input transform')
    return found[0]


def dl_channels(data) -> list[str]:
    """Channel names of the inputs of DataLoaders, a DataLoader or Datasets made by `hms_dls` (or `hms_raw_dls`)."""
    return _input_tfm(data).channels


def dl_parts(data) -> set:
    """The store halves ('spec', 'eeg') the inputs of DataLoaders (or a DataLoader) need."""
    tfm = _input_tfm(data)
    return {'eeg'} if tfm.form == 'signal' else {c.split('_')[0] for c in tfm.channels}


def check_fold_table(table: pd.DataFrame, fold: int):
    """HMSDataError unless `table` has ids, targets and a `fold` column giving non-empty train and valid sets."""
    need = [c for c in ['eeg_id', 'fold', 'expert', *TARGETS] if c not in table.columns]
    if need: raise HMSDataError('table', f'missing column(s) {need} (folds come from meta.add_folds)')
    n_valid = int((table['fold'] == fold).sum())
    if n_valid in (0, len(table)):
        raise HMSDataError('table', f'fold {fold} leaves {"no validation" if n_valid == 0 else "no training"} rows '
                                    f'(folds present: {sorted(set(table["fold"]))})')


def default_windows() -> str:
    """Training windows when none are asked for: 'random' on a GPU, 'centre' (the stored mels, no mel cost) on the CPU."""
    return 'random' if torch.cuda.is_available() else 'centre'


def place_store(store, resident: bool | None):
    """`store` held on the GPU when asked (None: when there is one with room for it), else read from its memory maps."""
    if resident is None:
        resident = torch.cuda.is_available() and sum(store.nbytes.values()) < 0.5 * torch.cuda.mem_get_info()[0]
    return store.to(default_device()) if resident and store.device is None else store


@delegates(DataBlock.dataloaders)
def hms_dls(table: pd.DataFrame, store, fold: int = 0, bs: int = BS, channels: list[str] | None = None,
            batch_tfms=None, windows: str | None = None, jitter: float = 0.0, vote_weight: bool = False,
            resident: bool | None = None, num_workers: int = 0, seed: int | None = None, **kwargs) -> DataLoaders:
    """DataLoaders of (image, votes) for eeg-level `table`: `fold` validates at the centre window, the rest trains at `windows`."""
    check_fold_table(table, fold)
    if channels is not None: store = store.with_channels(channels)
    store.rows(table['eeg_id'])                                   # HMSDataError naming any eeg_id not in the store
    store = place_store(store, resident)
    return fold_dls(table, store, HMSImageBlock(store, windows or default_windows(), jitter), fold, bs, batch_tfms, vote_weight,
                    num_workers, seed, **kwargs)


def fold_dls(table: pd.DataFrame, store, block: TransformBlock, fold: int, bs: int, batch_tfms, vote_weight: bool,
             num_workers: int, seed: int | None, **kwargs) -> DataLoaders:
    """DataLoaders of (input `block`, votes) split on `fold` (pinned when the store is read on the CPU for a GPU)."""
    if seed is not None: set_seed(seed)
    dblock = DataBlock(blocks=(block, VoteBlock(vote_weight)), splitter=ColSplitter('fold', on=fold), n_inp=1, batch_tfms=batch_tfms)
    pin = torch.cuda.is_available() and store.device is None
    return dblock.dataloaders(table.reset_index(drop=True), bs=bs, num_workers=0 if store.device else num_workers,
                              pin_memory=pin, **kwargs)


@delegates(TfmdDL)
def hms_test_dl(dls: DataLoaders, table: pd.DataFrame, store, bs: int | None = None, **kwargs) -> TfmdDL:
    """Inputs-only DataLoader of eeg-level `table` read from `store` (e.g. the test split) with `dls`'s channels."""
    # dls.test_dl(table) reads the dls's own (training) store; a loaded learner predicts the test split through this.
    tfm = _input_tfm(dls)
    store = place_store(store.with_channels(CHANNELS[4:] if tfm.form == 'signal' else tfm.channels), None)
    store.rows(table['eeg_id'])
    ds = Datasets(table.reset_index(drop=True), [[HMSImage(store, form=tfm.form)]], split_idx=1)
    first = [type(t)() for t in dls.valid.after_batch.fs if isinstance(t, InputAssembly)]
    return HMSDataLoader(ds, bs=bs or dls.valid.bs, after_batch=first, device=dls.device, **{'num_workers': 0, **kwargs})


@dispatch
def show_batch(x: HMSTensorImage, y, samples, ctxs=None, max_n: int = 4, **kwargs):
    """One row of channel panels per sample, titled with its vote distribution when there is one."""
    samples = samples[:max_n]
    n_ch = len(samples[0][0])
    fig = ctxs if ctxs is not None else plt.figure(figsize=(3 * n_ch, 2.8 * len(samples)), layout='constrained')
    for s, sub in zip(samples, np.atleast_1d(fig.subfigures(len(samples), 1))):
        s[0].show(ctx=sub, title=vote_title(s[1]) if len(s) > 1 else None)
    return fig
