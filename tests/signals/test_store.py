"""The signal store: images equal the recipe, incremental and atomic prepare, read-only roots, refusals."""
import json
import os
import pickle

import numpy as np
import pytest

import hms_fastai.signals.prepare as prepare_mod
from hms_fastai.competition.io import load_competition, read_eeg, read_spectrogram
from hms_fastai.competition.meta import eeg_table
from hms_fastai.core.constants import SPEC_COLUMNS
from hms_fastai.core.errors import HMSDataError
from hms_fastai.signals.eegspec import eeg_image
from hms_fastai.signals.image import image_channels, spec_image
from hms_fastai.signals.prepare import prepare
from hms_fastai.signals.store import Store


def _expected(root, split, eeg_id, centre_windows) -> np.ndarray:
    """The image of an eeg_id computed straight from its parquet files at the window train.csv's offsets give."""
    comp = load_competition(root, train=split == 'train')
    sid = getattr(comp, split).groupby('eeg_id').spectrogram_id.first().loc[eeg_id]
    spec = read_spectrogram(comp.spec_path(sid, split))[SPEC_COLUMNS].to_numpy()
    eeg = read_eeg(comp.eeg_path(eeg_id, split)).to_numpy()
    if split == 'train': row, start = (int(v) for v in centre_windows(root).loc[eeg_id, ['spec_row', 'eeg_start']])
    else: row, start = 0, (len(eeg) - 10_000) // 2
    return image_channels(spec_image(spec, row), eeg_image(eeg[start:start + 10_000]))


def _assert_same_image(got, want):
    np.testing.assert_array_equal(got[:4], want[:4])                    # Kaggle half: float32, exact
    np.testing.assert_allclose(got[4:], want[4:], rtol=1e-3, atol=1e-3)  # EEG half: stored as float16


@pytest.fixture(scope='module')
def train_store(synth_root, tmp_path_factory) -> Store:
    return prepare(synth_root, tmp_path_factory.mktemp('cache'), 'train')


def test_image_equals_recipe_train(synth_root, train_store, centre_windows):
    t = eeg_table(load_competition(synth_root).train)
    assert len(train_store) == len(t)
    for r in t.sample(4, random_state=0).itertuples():
        img = train_store.image(r.eeg_id)
        assert img.shape == (8, 128, 256) and img.dtype == np.float32
        _assert_same_image(img, _expected(synth_root, 'train', r.eeg_id, centre_windows))


def _snapshot(root) -> dict:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob('*')}


def test_image_equals_recipe_real_files_nothing_written_to_root(real_root, tmp_path, centre_windows):
    before = _snapshot(real_root)
    for split in ('train', 'test'):
        st = prepare(real_root, tmp_path / 'cache', split)
        ids = getattr(load_competition(real_root, train=split == 'train'), split).eeg_id.unique()
        for i in ids: _assert_same_image(st.image(i), _expected(real_root, split, i, centre_windows))
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
    with pytest.raises(HMSDataError, match='not in the train cache'): train_store.image(1)


def test_rerun_skips_and_changed_file_rebuilds_only_its_chunk(synth_root, tmp_path, monkeypatch):
    monkeypatch.setattr(prepare_mod, 'EEG_CHUNK', 8)
    built = []
    real_build = prepare_mod._build_eeg_chunk
    monkeypatch.setattr(prepare_mod, '_build_eeg_chunk', lambda *a: (built.append(a[5][0].name), real_build(*a))[1])
    data, cache = tmp_path / 'data', tmp_path / 'cache'
    import shutil; shutil.copytree(synth_root, data)
    prepare(data, cache)
    n_chunks = len(built)
    assert n_chunks == 3
    prepare(data, cache)
    assert len(built) == n_chunks                                        # up to date: nothing rebuilt
    eid = int(load_competition(data).train.eeg_id.iloc[0])
    path = data / 'train_eegs' / f'{eid}.parquet'
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    st = prepare(data, cache)
    assert len(built) == n_chunks + 1                                    # only the changed file's chunk
    assert len(list((cache / 'train').glob('mel_*.npy'))) == n_chunks   # the stale chunk is gone
    st.image(eid)


def test_killed_prepare_is_completed_without_full_rebuild(synth_root, tmp_path, monkeypatch):
    monkeypatch.setattr(prepare_mod, 'EEG_CHUNK', 8)
    real_build, built = prepare_mod._build_eeg_chunk, []

    def dies_on_third(*a):
        if len(built) == 2: raise KeyboardInterrupt('killed')
        built.append(a[5][0].name)
        return real_build(*a)
    monkeypatch.setattr(prepare_mod, '_build_eeg_chunk', dies_on_third)
    with pytest.raises(KeyboardInterrupt): prepare(synth_root, tmp_path)
    assert not (tmp_path / 'train' / 'index.parquet').exists()
    with pytest.raises(HMSDataError, match='run `hms-fastai prepare'): Store.open(tmp_path)
    monkeypatch.setattr(prepare_mod, '_build_eeg_chunk', lambda *a: (built.append(a[5][0].name), real_build(*a))[1])
    st = prepare(synth_root, tmp_path)
    assert len(built) == 3 and len(set(built)) == 3                     # the third chunk alone was built
    assert len(st) == 24 and not list((tmp_path / 'train').glob('.*'))


def test_refuses_other_root_and_old_format(synth_root, tmp_path):
    import shutil; shutil.copytree(synth_root, tmp_path / 'copy')
    cache = tmp_path / 'cache'
    before = _snapshot(synth_root)
    prepare(synth_root, cache, 'test')
    assert _snapshot(synth_root) == before                              # the data root is only read
    with pytest.raises(HMSDataError, match='was built from'): prepare(tmp_path / 'copy', cache, 'test')
    mf = cache / 'manifest.json'
    mf.write_text(json.dumps({**json.loads(mf.read_text()), 'format': 0}))
    with pytest.raises(HMSDataError, match='cache format 0'): prepare(synth_root, cache, 'test')
    (tmp_path / 'other').mkdir()
    (tmp_path / 'other' / 'x.txt').write_text('mine')
    with pytest.raises(HMSDataError, match='not an hms_fastai cache'): prepare(synth_root, tmp_path / 'other', 'test')


def test_spec_only_cache(synth_root, tmp_path):
    st = prepare(synth_root, tmp_path, parts=('spec',))
    assert not list((tmp_path / 'train').glob('mel_*'))
    with pytest.raises(HMSDataError, match="no \\['eeg'\\] part"): Store.open(tmp_path)
    assert st.channels == ['spec_LL', 'spec_RL', 'spec_LP', 'spec_RP']
    assert st.image(int(st.table.eeg_id.iloc[0])).shape == (4, 128, 256)
