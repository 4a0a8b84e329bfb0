"""fastai data: batch shapes and contents, fold split, channel variants, show_batch, test DataLoader, refusals, targets
from each drawn window's own votes."""
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import Recipe, seed_spec_image
from fastai.data.core import show_at
from fastai.torch_core import TensorImage

from hms_fastai.competition.io import load_competition
from hms_fastai.competition.meta import fold_table
from hms_fastai.core.constants import CHANNELS, REGIONS, TARGETS
from hms_fastai.core.errors import HMSDataError
from hms_fastai.learn.data import Votes, dl_channels, hms_dls, hms_test_dl, vote_title
from hms_fastai.signals.prepare import prepare

EEG_ONLY = ['eeg_LL', 'eeg_RL', 'eeg_LP', 'eeg_RP']


@pytest.fixture(scope='module')
def dls(fastai_data):
    train, _, table = fastai_data
    return hms_dls(table, train, fold=0, bs=8, seed=0)


def test_batches_are_store_images_and_vote_fractions(fastai_data, dls):
    train, _, table = fastai_data
    x, y = dls.train.one_batch()
    assert isinstance(x, TensorImage) and x.shape == (8, 8, 128, 256) and x.dtype == torch.float32
    assert isinstance(y, Votes) and y.shape == (8, 6) and y.dtype == torch.float32
    torch.testing.assert_close(y.sum(1), torch.ones(8))
    xv, yv = dls.valid.one_batch()                      # validation keeps table order: check contents exactly
    rows = table[table.fold == 0].iloc[:len(xv)]
    np.testing.assert_array_equal(xv.numpy(), train.images(rows.eeg_id))
    np.testing.assert_allclose(yv.numpy(), rows[TARGETS].to_numpy(np.float32))


def test_split_by_fold(fastai_data, dls):
    _, _, table = fastai_data
    assert sorted(dls.valid.items.eeg_id) == sorted(table.eeg_id[table.fold == 0])
    assert sorted(dls.train.items.eeg_id) == sorted(table.eeg_id[table.fold != 0])


def test_four_channel_variant(fastai_data):
    train, _, table = fastai_data
    d4 = hms_dls(table, train, fold=1, bs=4, channels=EEG_ONLY)
    x, _ = d4.valid.one_batch()
    assert x.shape == (4, 4, 128, 256) and dl_channels(d4) == EEG_ONLY
    np.testing.assert_array_equal(x.numpy(), train.images(d4.valid.items.eeg_id[:4])[:, 4:])


def test_show_batch_draws_named_panels_titled_with_votes(dls, tmp_path):
    plt.close('all')
    dls.valid.show_batch(max_n=2)
    fig = plt.gcf()
    fig.savefig(tmp_path / 'batch.png')
    assert (tmp_path / 'batch.png').stat().st_size > 10_000
    titles = [ax.get_title() for ax in fig.axes]
    assert titles.count('Kaggle LL') == 2 and titles.count('EEG mel RP') == 2
    assert [sf.get_suptitle() for sf in fig.subfigs] == [vote_title(v) for v in dls.valid.items[TARGETS].to_numpy()[:2]]
    plt.close(fig)


def test_show_at_one_item(dls):
    fig = show_at(dls.valid_ds, 0)
    assert fig.get_suptitle() == vote_title(dls.valid.items[TARGETS].to_numpy()[0])
    assert [ax.get_title() for ax in fig.axes[:8]] == [f'{s} {r}' for s in ('Kaggle', 'EEG mel') for r in REGIONS]


def test_test_dl_reads_the_test_store_inputs_only(fastai_data, dls):
    _, test, _ = fastai_data
    assert not set(TARGETS) & set(test.table.columns)
    tdl = hms_test_dl(dls, test.table, test, bs=4)
    batches = list(tdl)
    assert [len(b) for b in batches] == [1, 1]             # inputs only; 6 rows in batches of 4, nothing dropped
    got = torch.cat([b[0] for b in batches]).numpy()
    np.testing.assert_array_equal(got, test.images(test.table.eeg_id))


def test_plain_test_dl_reads_the_training_store(fastai_data, dls):
    train, _, table = fastai_data
    rows = table.drop(columns=TARGETS).iloc[:3]
    np.testing.assert_array_equal(dls.test_dl(rows).one_batch()[0].numpy(), train.images(rows.eeg_id))


def test_test_dl_uses_the_dls_channels(fastai_data):
    train, test, table = fastai_data
    d4 = hms_dls(table, train, bs=4, channels=EEG_ONLY)
    x = hms_test_dl(d4, test.table, test, bs=8).one_batch()[0]
    np.testing.assert_array_equal(x.numpy(), test.images(test.table.eeg_id)[:, 4:])


def test_refusals(fastai_data):
    train, test, table = fastai_data
    with pytest.raises(HMSDataError, match='fold'): hms_dls(table.drop(columns='fold'), train)
    with pytest.raises(HMSDataError, match='no validation'): hms_dls(table, train, fold=7)
    with pytest.raises(HMSDataError, match='are not in the test cache'): hms_dls(table, test, bs=4)
    with pytest.raises(ValueError, match='unknown channel'): hms_dls(table, train, bs=4, channels=['eeg_XX'])
    n = int((table.fold != 0).sum())                   # a fold short of one batch would train nothing (fastai drops it)
    with pytest.raises(HMSDataError, match=rf'^bs: fold 0 has {n} training rows, fewer than one batch \(bs={n + 1}\)'):
        hms_dls(table, train, bs=n + 1)
    assert len(hms_dls(table, train, bs=n).train) == 1
    assert CHANNELS == dl_channels(hms_dls(table, train, bs=4))


def _which(r, e, img) -> int:
    """Index in r.windows(e) of the label window an image was made at (asserted to be within tolerance of it)."""
    dist = [r.distance(img, r.image(e, s, t)) for s, t in r.windows(e)]
    k = int(np.argmin([a + b for a, b in dist]))
    assert dist[k][0] <= r.SPEC_ATOL and dist[k][1] <= r.MEL_ATOL, (e, dist[k])   # from the 16-bit store
    return k


def test_random_windows_train_and_centre_windows_validate(fastai_data, synth_root, recipe):
    train, test, table = fastai_data
    r = recipe(synth_root)
    dls = hms_dls(table, train, fold=0, bs=8, windows='random')
    dl = dls.train.new(shuffle=False, drop_last=False)                 # table order, still the training split
    ids = dl.items.eeg_id.to_numpy()
    epochs = [torch.cat([x for x, _ in dl]).numpy() for _ in range(2)]
    drawn = np.array([[_which(r, e, img) for e, img in zip(ids, images)] for images in epochs])
    several = np.array([len(r.windows(e)) > 1 for e in ids])
    assert several.sum() >= 5 and (drawn[0] != drawn[1])[several].any()     # a new window each epoch
    centre = r.centre()
    for _ in range(2):                                                  # validation: the centre window, every epoch
        x = torch.cat([x for x, _ in dls.valid]).numpy()
        for img, e in zip(x, dls.valid.items.eeg_id): r.assert_close(img, r.image(e, *centre.loc[e]))
    tr = recipe(synth_root, 'test')
    tc = tr.centre()
    for img, e in zip(torch.cat([b[0] for b in hms_test_dl(dls, test.table, test)]).numpy(), test.table.eeg_id):
        tr.assert_close(img, tr.image(e, *tc.loc[e]))
    assert dls.train.windows == 'random' and dls.valid.windows == 'random'   # the split, not the setting, picks centre


def test_windows_and_targets_default_to_a_drawn_window_and_its_votes_and_refuse_names(fastai_data):
    train, _, table = fastai_data
    dl = hms_dls(table, train, bs=4).train
    assert (dl.windows, dl.targets) == ('random', 'window')                      # on every device (README: measured)
    with pytest.raises(ValueError, match="windows must be one of \\('centre', 'random'\\)"): hms_dls(table, train, bs=4, windows='middle')


def test_worker_processes_give_the_same_batches(fastai_data):
    train, _, table = fastai_data
    one, two = (hms_dls(table, train, bs=4, num_workers=n, seed=0) for n in (0, 2))
    assert two.valid.num_workers > 0                                           # fastai caps it by the cores
    for a, b in zip(one.valid, two.valid):
        torch.testing.assert_close(a[0].as_subclass(torch.Tensor), b[0].as_subclass(torch.Tensor))
        torch.testing.assert_close(a[1].as_subclass(torch.Tensor), b[1].as_subclass(torch.Tensor))


def _window_of(spec: np.ndarray, image: np.ndarray, offsets) -> int:
    """Which of an eeg's label windows (spectrogram offsets, s) a spectrogram-half image was made at (the seed's recipe)."""
    dist = [np.abs(seed_spec_image(spec, int(s // 2)) - image).max() for s in offsets]
    assert min(dist) <= Recipe.SPEC_ATOL, dist                                 # the 16-bit store's spectrogram rows
    return int(np.argmin(dist))


def test_window_targets_are_each_drawn_windows_own_votes(mle_root, tmp_path):
    pub = mle_root / 'public'
    store = prepare(pub, tmp_path, 'train', parts=('spec',))
    table = fold_table(load_competition(pub, test=False), 2)
    rows = pd.read_csv(pub / 'train.csv')                      # the truth, read here: each label row's own votes

    def batches(**kw):
        """Every training item in table order: the eeg_ids, images and targets of hms_dls(**kw)."""
        dl = hms_dls(table, store, fold=0, bs=8, channels='spec', targets='window', seed=0, **kw).train.new(shuffle=False, drop_last=False)
        x, y = (torch.cat(t).numpy() for t in zip(*dl))
        return dl.items.eeg_id.to_numpy(), x, y

    def window_votes(e, image=None):
        """The votes of the label window `image` shows (None: the one nearest the centre) and the eeg's, from train.csv."""
        mine = rows[rows.eeg_id == e]
        windows = mine.drop_duplicates(['spectrogram_label_offset_seconds', 'eeg_label_offset_seconds'])
        if image is None:
            mid = (mine.eeg_label_offset_seconds.min() + mine.eeg_label_offset_seconds.max()) / 2
            k = int(np.argmin(np.abs(windows.eeg_label_offset_seconds.to_numpy() - mid)))    # of equals, the earliest
        else:
            spec = pd.read_parquet(pub / 'train_spectrograms' / f'{mine.spectrogram_id.iloc[0]}.parquet').drop(columns='time').to_numpy()
            k = _window_of(spec, image, windows.spectrogram_label_offset_seconds)
        votes = mine[mine.eeg_label_offset_seconds == windows.eeg_label_offset_seconds.iloc[k]][TARGETS].sum()
        return (votes / votes.sum()).to_numpy(), (mine[TARGETS].sum() / mine[TARGETS].sum().sum()).to_numpy(), mine[TARGETS].sum(1).max()

    ids, x, y = batches(windows='random')
    other = 0
    for e, img, target in zip(ids, x, y):
        want, eeg, _ = window_votes(e, img)
        np.testing.assert_allclose(target, want, atol=1e-6)       # the drawn window's own votes
        other += not np.allclose(want, eeg, atol=1e-3)
    assert other >= 3                                             # …which are not the eeg's
    for e, img, target in zip(*batches(windows='random', vote_weight=True)):
        want, _, total = window_votes(e, img)
        np.testing.assert_allclose(target, want * total / 20, rtol=1e-5, atol=1e-7)   # at the eeg's vote weight
    for e, _, target in zip(*batches(windows='centre')):           # centre: the label window it stands for
        np.testing.assert_allclose(target, window_votes(e)[0], atol=1e-6)
    valid = hms_dls(table, store, fold=0, bs=8, channels='spec', targets='window').valid
    np.testing.assert_allclose(torch.cat([b[1] for b in valid]).numpy(), valid.items[TARGETS].to_numpy(np.float32), atol=1e-6)
