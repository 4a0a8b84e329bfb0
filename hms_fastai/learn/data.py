"""fastai data: eeg-level rows → multi-channel images through the signal store, soft vote targets, fold split."""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from fastai.data.block import DataBlock, TransformBlock
from fastai.data.core import DataLoaders, Datasets, TfmdDL
from fastai.data.transforms import ColSplitter
from fastai.torch_core import TensorBase, TensorImage, set_seed
from fastcore.basics import store_attr
from fastcore.meta import delegates
from fasttransform import Transform
from plum import dispatch

from ..core.constants import CLASSES, TARGETS
from ..core.defaults import BS
from ..core.errors import HMSDataError, show_ids
from ..signals.plots import show_image

__all__ = ['HMSTensorImage', 'Votes', 'HMSImage', 'VoteTarget', 'HMSImageBlock', 'VoteBlock', 'dl_channels',
           'hms_dls', 'hms_test_dl', 'vote_title']


def vote_title(votes) -> str:
    """A vote distribution as a short title: 'Seizure 0.62 LPD 0.10 …'."""
    return ' '.join(f'{c} {float(v):.2f}' for c, v in zip(CLASSES, votes))


class HMSTensorImage(TensorImage):
    """A (C, 128, 256) image whose `show` draws one labelled panel per channel (names in `.channels` if set)."""

    def show(self, ctx=None, title: str | None = None, **kwargs):
        """Draw the channels into `ctx` (axes, a (sub)figure, or a new figure); return the figure."""
        if hasattr(ctx, 'subplots'): ctx = ctx.subplots(1, len(self))
        return show_image(self, title=title, axs=ctx, channels=getattr(self, 'channels', None))


class Votes(TensorBase):
    """The 6 vote fractions of an eeg-level row, in TARGETS order (a soft label summing to 1)."""

    def show(self, ctx=None, **kwargs):
        """Title the figure `ctx` (as drawn by the image) with the distribution; return it."""
        if ctx is not None: ctx.suptitle(vote_title(self))
        return ctx


class HMSImage(Transform):
    """Eeg-level table row → its multi-channel image from `store` (the store's channels, CHANNELS order)."""

    def __init__(self, store):
        super().__init__()
        store_attr()
        self.channels = list(store.channels)

    def encodes(self, row) -> HMSTensorImage:
        """Read the row's image (memory-mapped, ~1 ms), tagged with its channel names for `show`."""
        return HMSTensorImage(torch.from_numpy(self.store.image(row['eeg_id'])), channels=self.channels)


class VoteTarget(Transform):
    """Eeg-level table row → its vote fractions as a float32 `Votes` tensor."""

    def encodes(self, row) -> Votes:
        """The TARGETS columns of `row`."""
        return Votes(torch.from_numpy(np.asarray(row[TARGETS], dtype=np.float32)))


def HMSImageBlock(store) -> TransformBlock:
    """Input block: rows → images through `store`."""
    return TransformBlock(type_tfms=HMSImage(store))


def VoteBlock() -> TransformBlock:
    """Target block: rows → soft vote distributions (not a CategoryBlock: the targets are probabilities)."""
    return TransformBlock(type_tfms=VoteTarget())


def _eeg_tfm(data) -> HMSImage:
    """The HMSImage transform of DataLoaders, a DataLoader or Datasets."""
    ds = data.valid_ds if isinstance(data, DataLoaders) else getattr(data, 'dataset', data)
    found = [f for f in ds.tls[0].tfms.fs if isinstance(f, HMSImage)]
    if not found: raise ValueError('these DataLoaders were not made by hms_dls: no HMSImage input transform')
    return found[0]


def dl_channels(data) -> list[str]:
    """Channel names of the images of DataLoaders, a DataLoader or Datasets made by `hms_dls`."""
    return _eeg_tfm(data).channels


def _check_ids(table: pd.DataFrame, store):
    """HMSDataError unless every eeg_id of `table` is in `store`."""
    missing = sorted(set(table['eeg_id']) - set(store.table['eeg_id']))
    if missing: raise HMSDataError(f'{store.split} store', f'eeg_id(s) {show_ids(missing)} are not in it')


def _check_table(table: pd.DataFrame, fold: int):
    """HMSDataError unless `table` has ids, targets and a `fold` column giving non-empty train and valid sets."""
    need = [c for c in ['eeg_id', 'fold', 'expert', *TARGETS] if c not in table.columns]
    if need: raise HMSDataError('table', f'missing column(s) {need} (folds come from meta.add_folds)')
    n_valid = int((table['fold'] == fold).sum())
    if n_valid in (0, len(table)):
        raise HMSDataError('table', f'fold {fold} leaves {"no validation" if n_valid == 0 else "no training"} rows '
                                    f'(folds present: {sorted(set(table["fold"]))})')


@delegates(DataBlock.dataloaders)
def hms_dls(table: pd.DataFrame, store, fold: int = 0, bs: int = BS, channels: list[str] | None = None,
            batch_tfms=None, num_workers: int = 0, seed: int | None = None, **kwargs) -> DataLoaders:
    """DataLoaders of (image, votes) for eeg-level `table` (with `fold`); rows of `fold` validate."""
    _check_table(table, fold)
    if channels is not None: store = store.with_channels(channels)
    _check_ids(table, store)
    if seed is not None: set_seed(seed, reproducible=True)
    block = DataBlock(blocks=(HMSImageBlock(store), VoteBlock()), splitter=ColSplitter('fold', on=fold), n_inp=1,
                      batch_tfms=batch_tfms)
    return block.dataloaders(table.reset_index(drop=True), bs=bs, num_workers=num_workers, **kwargs)


@delegates(TfmdDL.new)
def hms_test_dl(dls: DataLoaders, table: pd.DataFrame, store, bs: int | None = None, **kwargs) -> TfmdDL:
    """Inputs-only DataLoader of eeg-level `table` read from `store` (e.g. the test split) with `dls`'s channels."""
    # dls.test_dl(table) reads the dls's own (training) store; a loaded learner predicts the test split through this.
    store = store.with_channels(dl_channels(dls))
    _check_ids(table, store)
    ds = Datasets(table.reset_index(drop=True), [[HMSImage(store)]], split_idx=1)
    return dls.valid.new(ds, bs=bs or dls.valid.bs, shuffle=False, drop_last=False, **kwargs)


@dispatch
def show_batch(x: HMSTensorImage, y, samples, ctxs=None, max_n: int = 4, **kwargs):
    """One row of channel panels per sample, titled with its vote distribution when there is one."""
    samples = samples[:max_n]
    n_ch = len(samples[0][0])
    fig = ctxs if ctxs is not None else plt.figure(figsize=(3 * n_ch, 2.8 * len(samples)), layout='constrained')
    for s, sub in zip(samples, np.atleast_1d(fig.subfigures(len(samples), 1))):
        s[0].show(ctx=sub, title=vote_title(s[1]) if len(s) > 1 else None)
    return fig
