"""fastai data: batch shapes and contents, fold split, channel variants, show_batch, test DataLoader, refusals."""
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from fastai.data.core import show_at
from fastai.torch_core import TensorImage

from hms_fastai.core.constants import CHANNELS, REGIONS, TARGETS
from hms_fastai.core.errors import HMSDataError
from hms_fastai.learn.data import Votes, default_windows, dl_channels, hms_dls, hms_test_dl, vote_title

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
    with pytest.raises(HMSDataError, match='are not in the test cache'): hms_dls(table, test)
    with pytest.raises(ValueError, match='unknown channel'): hms_dls(table, train, channels=['eeg_XX'])
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


def test_windows_default_per_device_and_refused_names(fastai_data, monkeypatch):
    train, _, table = fastai_data
    assert hms_dls(table, train, bs=4).train.windows == 'centre'                  # this CPU: the stored centre mels
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert default_windows() == 'random'                                          # a GPU computes mels for free
    monkeypatch.undo()
    with pytest.raises(ValueError, match="windows must be one of \\('centre', 'random'\\)"): hms_dls(table, train, windows='middle')


def test_worker_processes_give_the_same_batches(fastai_data):
    train, _, table = fastai_data
    one, two = (hms_dls(table, train, bs=4, num_workers=n, seed=0) for n in (0, 2))
    assert two.valid.num_workers > 0                                           # fastai caps it by the cores
    for a, b in zip(one.valid, two.valid):
        torch.testing.assert_close(a[0].as_subclass(torch.Tensor), b[0].as_subclass(torch.Tensor))
        torch.testing.assert_close(a[1].as_subclass(torch.Tensor), b[1].as_subclass(torch.Tensor))
