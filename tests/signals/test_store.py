"""Reading the signal cache: centre and random windows equal the recipe, jitter, device-held stores, pickling, each label
window's votes, the test split's windows (stride windows of full-length recordings, or each row's own)."""
import pickle
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from hms_fastai.core.constants import CHANNELS, HALVES, TARGETS
from hms_fastai.core.errors import HMSDataError
from hms_fastai.signals.eegspec import bipolar
from hms_fastai.signals.image import assemble
from hms_fastai.signals.prepare import prepare
from hms_fastai.signals.store import Store


def stored(d: np.ndarray):
    """`same(a, x)`: whether chains `x` read from the store are float32 differences `a` (a slice of `d`, an eeg's whole
    file) within the store's int16 step (at most the chain's largest |µV| in the file / 32,767)."""
    step = np.nanmax(np.abs(d), 0) / 32_767
    return lambda a, x: np.allclose(a, x, rtol=0, atol=step, equal_nan=True)


@pytest.fixture(scope='module')
def train_store(synth_root, tmp_path_factory) -> Store:
    return prepare(synth_root, tmp_path_factory.mktemp('cache'), 'train')


def test_centre_images_equal_the_recipe(synth_root, train_store, recipe):
    r = recipe(synth_root)
    centre = r.centre()
    assert sorted(train_store.table.eeg_id) == sorted(centre.index)
    images = train_store.images(centre.index)                    # one batch through Store.raw and assemble
    assert images.shape == (len(centre), 8, 128, 256) and images.dtype == np.float32
    for img, (e, c) in zip(images, centre.iterrows()): r.assert_close(img, r.image(e, c.spec_s, int(c.eeg_start)))


def _snapshot(root) -> dict:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob('*')}


def test_real_files_equal_the_recipe_nothing_written_to_root(real_root, tmp_path, recipe):
    before = _snapshot(real_root)
    for split in ('train', 'test'):
        st, r = prepare(real_root, tmp_path / 'cache', split), recipe(real_root, split)
        for e, c in r.centre().iterrows(): r.assert_close(st.image(e), r.image(e, c.spec_s, int(c.eeg_start)))
        if split == 'train':                                     # a random window, through the on-the-fly EEG path
            for e in r.centre().index: _which(r, e, assemble(st.raw(st.rows([e]), 'random'))[0].numpy())
    assert _snapshot(real_root) == before


def test_channel_variants_and_pickle(train_store):
    eid = int(train_store.table.eeg_id.iloc[0])
    full = train_store.image(eid)
    spec = train_store.with_channels(['spec_LL', 'spec_RL', 'spec_LP', 'spec_RP'])
    eeg = Store.open(train_store.cache, 'train', channels=['eeg_RP', 'eeg_LL'])
    np.testing.assert_array_equal(spec.image(eid), full[:4])
    np.testing.assert_array_equal(eeg.image(eid), full[[4, 7]])      # CHANNELS order, whatever order asked
    assert eeg.channels == ['eeg_LL', 'eeg_RP']
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(train_store)).image(eid), full)
    assert train_store.images([eid, eid]).shape == (2, 8, 128, 256)
    with pytest.raises(HMSDataError, match=r'eeg_id\(s\) \[1\] are not in the train cache'): train_store.image(1)




def _which(r, e, got) -> int:
    """Index in r.windows(e) of the label window an image was made at (the closest; asserted to be within tolerance)."""
    dist = [r.distance(got, r.image(e, s, t)) for s, t in r.windows(e)]
    k = int(np.argmin([a + b for a, b in dist]))
    assert dist[k][0] <= r.SPEC_ATOL and dist[k][1] <= r.MEL_ATOL, (e, dist[k])   # mels on the fly from the int16 chains
    return k


def test_random_windows_are_label_windows_each_drawn(synth_root, train_store, recipe):
    r = recipe(synth_root)
    ids = train_store.table.eeg_id.to_numpy()
    images = assemble(train_store.raw(train_store.rows(ids), 'random')).numpy()
    for e, img in zip(ids, images): _which(r, e, img)                  # each image is one of its eeg's label windows
    eeg = {e: pd.read_parquet(synth_root / 'train_eegs' / f'{e}.parquet').to_numpy(np.float32) for e in ids}
    starts = {e: np.array([t for _, t in r.windows(e)]) for e in ids}
    drawn = {e: [] for e in ids}
    g = torch.Generator().manual_seed(0)
    for _ in range(300):                                              # which window: the EEG's first samples tell
        raw = train_store.raw(train_store.rows(ids), 'random', generator=g)['eeg'][:, :20].numpy()
        for e, x in zip(ids, raw):
            d = bipolar(eeg[e])
            same = stored(d)
            drawn[e].append(int(np.flatnonzero([same(d[t:t + 20], x) for t in starts[e]])[0]))
    for e in ids:                                                     # every window, about equally often
        counts = np.bincount(drawn[e], minlength=len(starts[e]))
        assert counts.min() > 0 and counts.max() < 3 * 300 / len(starts[e]) + 10, (e, counts)


def test_jitter_moves_crop_and_eeg_together_within_the_stored_span(synth_root, tmp_path, recipe):
    st = prepare(synth_root, tmp_path, margin=5)
    r = recipe(synth_root)
    for e in st.table.eeg_id[:6]:
        eeg = bipolar(pd.read_parquet(synth_root / 'train_eegs' / f'{e}.parquet').to_numpy(np.float32))
        same = stored(eeg)
        labels = r.windows(e)
        for _ in range(4):
            raw = st.raw(st.rows([e]), 'random', jitter=3)
            x = raw['eeg'][0].numpy()
            found = [(s, t, d) for s, t in labels for d in range(-600, 601) if 0 <= t + d <= len(eeg) - 10_000
                     and same(eeg[t + d:t + d + 5], x[:5]) and same(eeg[t + d:t + d + 10_000], x)]
            assert found, e
            s, t, d = found[0]
            want = r.image(e, s + d / 200, t + d)                      # the crop moved by the same d / 200 seconds
            r.assert_close(assemble(raw)[0].numpy(), want, eeg_atol=r.MEL_ATOL)
    rows = st.rows(st.table.eeg_id)                                   # the same windows drawn, with and without jitter
    moved = st.raw(rows, 'random', jitter=3, generator=torch.Generator().manual_seed(1))['eeg']
    still = st.raw(rows, 'random', jitter=0, generator=torch.Generator().manual_seed(1))['eeg']
    shifted = [not torch.equal(a, b) for a, b in zip(moved, still)]
    assert sum(shifted) > len(rows) / 2                                 # most windows moved (a draw of 0 s keeps one)


def test_held_on_a_device_equals_memory_maps(synth_root, tmp_path):
    a = prepare(synth_root, tmp_path)
    b = Store.open(tmp_path).to('cpu')
    rows = a.rows(a.table.eeg_id)
    for windows in ('centre', 'random'):
        torch.manual_seed(3); x = a.raw(rows, windows)
        torch.manual_seed(3); y = b.raw(rows, windows)
        assert x.keys() == y.keys()
        for k in x: torch.testing.assert_close(y[k].cpu(), x[k], rtol=0, atol=0, equal_nan=True)
    assert b.device == torch.device('cpu') and a.device is None and b.with_channels(['spec_LL']).device == b.device


def test_pickled_store_opens_its_cache_when_first_used(synth_root, tmp_path):
    st = prepare(synth_root, tmp_path / 'cache')
    blob = pickle.dumps(st)
    assert len(blob) < 1000                                            # no index or windows inside an export
    shutil.move(tmp_path / 'cache', tmp_path / 'gone')
    lost = pickle.loads(blob)
    assert 'channels=' in repr(lost) and lost.channels == st.channels   # loads without the cache
    with pytest.raises(HMSDataError, match='no prepared train cache'): lost.image(int(st.table.eeg_id[0]))


@pytest.mark.parametrize('channels, reads, parts', [
    (HALVES['spec'], {}, {'spec'}), (HALVES['eeg'], {}, {'mel'}), (HALVES['eeg'], {'mels': False}, {'eeg'}),
    (CHANNELS, {'windows': 'random'}, {'spec', 'mel', 'eeg'}), (['spec_LL', 'eeg_RP'], {}, {'spec', 'mel'})])
def test_a_device_holds_only_the_parts_read(train_store, channels, reads, parts):
    st = Store.open(train_store.cache, channels=channels)         # its own: holding parts changes it
    assert set(st.reads(**reads)) == parts
    st.to('cpu', st.reads(**reads))
    assert set(st.held) == parts and st.device == torch.device('cpu')
    assert Store.open(train_store.cache, channels=channels).to('cpu').held == tuple(p for p in ('spec', 'eeg', 'mel')
                                                                                      if p in st.reads())   # default: reads()


def test_with_channels_shares_the_index_and_the_memory_maps(train_store, monkeypatch):
    built = []
    init = Store.__init__
    monkeypatch.setattr(Store, '__init__', lambda self, *a, **k: (built.append(1), init(self, *a, **k))[1])
    views = [train_store.with_channels(CHANNELS[i % 8:i % 8 + 1]) for i in range(50)]
    assert built == []                                               # no Store (and no index) built per call
    for v in views:
        assert v._index is train_store._index and v._col is train_store._col and v.row is train_store.row
        assert v._maps is train_store._maps and v._resident is train_store._resident
    assert [v.channels for v in views[:3]] == [['spec_LL'], ['spec_RL'], ['spec_LP']]


@pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device on this machine')
def test_cuda_batches_equal_cpu(train_store):
    rows = train_store.rows(train_store.table.eeg_id)
    on_gpu = Store.open(train_store.cache).to('cuda')
    for windows in ('centre', 'random'):
        torch.manual_seed(0); cpu = assemble(train_store.raw(rows, windows))
        torch.manual_seed(0); gpu = assemble(on_gpu.raw(rows, windows))
        assert gpu.is_cuda
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-4)


@pytest.fixture(scope='module')
def mle_store(mle_root, tmp_path_factory) -> Store:
    """The train split of the per-window-truth MLE-bench layout, spectrogram half only (windows and votes are what count)."""
    return prepare(mle_root / 'public', tmp_path_factory.mktemp('mle_cache'), 'train', parts=('spec',))


def _row_votes(root) -> pd.Series:
    """train.csv read here: each distinct (eeg_id, crop start, EEG start)'s summed votes."""
    rows = pd.read_csv(root / 'train.csv')
    rows['start'] = (rows.eeg_label_offset_seconds * 200).astype(int)
    return rows.groupby(['eeg_id', 'spectrogram_label_offset_seconds', 'start'])[TARGETS].sum()


def test_each_label_window_keeps_its_own_votes(mle_root, mle_store):
    votes, differ = _row_votes(mle_root / 'public'), 0
    for e in mle_store.table.eeg_id:
        w = mle_store.windows(e)
        want = votes.loc[e].loc[list(zip(w.spec_s, w.start))].to_numpy(float)
        np.testing.assert_allclose(w[TARGETS].to_numpy(), want / want.sum(1, keepdims=True), atol=1e-12)
        np.testing.assert_array_equal(w.total_votes, want.sum(1))
        numbers = mle_store.window_table().query('eeg_id == @e').window
        np.testing.assert_allclose(mle_store.votes(numbers), want / want.sum(1, keepdims=True), atol=1e-6)
        differ += not np.allclose(w[TARGETS].to_numpy(), w[TARGETS].to_numpy()[:1])
    assert differ >= 5                                         # per-window truth: an eeg's windows disagree


def test_the_centre_stands_for_its_nearest_label_window(mle_root, mle_store, recipe, tmp_path):
    centre, table = recipe(mle_root / 'public').centre(), mle_store.window_table()
    for e in mle_store.table.eeg_id:
        w = mle_store.windows(e)
        dist = (w.start - centre.eeg_start[e]).abs().to_numpy()
        got = table.loc[mle_store.nearest(mle_store.rows([e]))[0]]
        assert got.eeg_id == e and got.start == w.start[int(np.argmin(dist))]   # of equals, the earliest
    capped, votes, alone = prepare(mle_root / 'public', tmp_path, 'train', parts=('spec',), max_seconds=50), _row_votes(mle_root / 'public'), 0
    for e in capped.table.eeg_id:                               # 50 s of EEG: the window at the centre alone
        w = capped.windows(e)
        assert (w.start == centre.eeg_start[e]).all()
        if not (mle_store.windows(e).start == centre.eeg_start[e]).any():      # no label window there: the eeg's votes
            alone += 1
            np.testing.assert_allclose(w[TARGETS].to_numpy()[0], votes.loc[e].sum() / votes.loc[e].sum().sum(), atol=1e-12)
    assert alone >= 3
    with pytest.warns(UserWarning, match='gives no offsets'): test = prepare(mle_root / 'public', tmp_path / 't', 'test', parts=('spec',))
    with pytest.raises(HMSDataError, match='keeps no votes per window'): test.votes([0])


def test_full_length_test_recordings_store_stride_windows_with_aligned_crops(mle_root, tmp_path, recipe):
    pub = mle_root / 'public'
    with pytest.warns(UserWarning, match='test.csv gives no offsets and') as caught: st = prepare(pub, tmp_path, 'test')
    assert len([w for w in caught if 'gives no offsets' in str(w.message)]) == 1              # said once
    r = recipe(pub, 'test')
    assert set(st.table.eeg_id) == set(pd.read_csv(pub / 'test.csv').eeg_id)
    centre = r.centre()
    for e in st.table.eeg_id:
        w = st.windows(e)
        assert list(zip(w.spec_s, w.start)) == r.stride(e)
        table = st.window_table().query('eeg_id == @e')
        assert (table.centre == ((table.start == centre.eeg_start[e]) & (table.spec_s == centre.spec_s[e]))).all()
    long = [e for e in st.table.eeg_id if len(st.windows(e)) > 1][:2]
    assert long
    for e in long:                                            # the images at the stride windows: the recipe's
        numbers = st.window_table().query('eeg_id == @e').window.to_numpy()
        images = assemble(st.raw(st.rows([e] * len(numbers)), numbers)).numpy()
        for img, (s, t) in zip(images, r.stride(e)): r.assert_close(img, r.image(e, s, t), eeg_atol=r.MEL_ATOL)   # mels from the int16 chains
        r.assert_close(st.image(e), r.image(e, *centre.loc[e]))


def test_test_rows_with_offsets_are_read_at_their_own_windows(mle_offsets, tmp_path):
    root, test = mle_offsets
    with warnings.catch_warnings():
        warnings.simplefilter('error')                          # nothing assumed: no warning
        st = prepare(root, tmp_path / 'cache', 'test', parts=('spec',))
    table = st.window_table().set_index('window')
    got = table.loc[st.locate(test)]
    np.testing.assert_array_equal(got.eeg_id, test.eeg_id)
    np.testing.assert_array_equal(got.spec_s, test.spectrogram_label_offset_seconds)
    np.testing.assert_array_equal(got.start, (test.eeg_label_offset_seconds * 200).astype(int))
