"""Building the signal cache: incremental and atomic, read-only roots, refusals, parts, windows kept, margin, bytes."""
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

import hms_fastai.signals.prepare as prepare_mod
from hms_fastai.competition.io import load_competition
from hms_fastai.core.constants import HALVES, SPEC_COLUMNS
from hms_fastai.core.errors import HMSDataError
from hms_fastai.signals.eegspec import bipolar, bipolar_mels
from hms_fastai.signals.prepare import prepare
from hms_fastai.signals.store import Store


def _snapshot(root) -> dict:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob('*')}


def test_rerun_skips_and_changed_file_rebuilds_only_its_chunk(synth_root, tmp_path, monkeypatch):
    monkeypatch.setattr(prepare_mod, 'EEG_CHUNK', 8)
    built = []
    real_build = prepare_mod._build_eeg_chunk
    monkeypatch.setattr(prepare_mod, '_build_eeg_chunk', lambda *a: (built.append(a[5][0].name), real_build(*a))[1])
    data, cache = tmp_path / 'data', tmp_path / 'cache'
    shutil.copytree(synth_root, data)
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
    assert len(list((cache / 'train').glob('eeg_*.npy'))) == n_chunks   # the stale chunk is gone
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
    shutil.copytree(synth_root, tmp_path / 'copy')
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
    assert not list((tmp_path / 'train').glob('eeg_*'))
    with pytest.raises(HMSDataError, match="no \\['eeg'\\] part"): Store.open(tmp_path)
    assert st.channels == ['spec_LL', 'spec_RL', 'spec_LP', 'spec_RP']
    assert st.image(int(st.table.eeg_id.iloc[0])).shape == (4, 128, 256)


def test_max_seconds_keeps_the_windows_nearest_the_centre(synth_root, tmp_path, recipe):
    r = recipe(synth_root)
    full = prepare(synth_root, tmp_path / 'full')
    capped = prepare(synth_root, tmp_path / 'capped', max_seconds=60)
    one = prepare(synth_root, tmp_path / 'one', max_seconds=50)
    centre = r.centre()
    for e in full.table.eeg_id:
        labels = r.windows(e)
        assert sorted(zip(full.windows(e).spec_s, full.windows(e).start)) == labels           # every label window
        kept = capped.windows(e)
        starts = np.append(kept.start, centre.eeg_start[e])
        assert starts.max() - starts.min() + 10_000 <= 60 * 200                                 # within 60 s of EEG
        assert set(zip(kept.spec_s, kept.start)) <= set(labels) or len(kept) == 1
        # what is left out is farther from the centre than everything kept
        out = [abs(s - centre.eeg_start[e]) for _, s in set(labels) - set(zip(kept.spec_s, kept.start))]
        assert not out or min(out) >= abs(kept.start - centre.eeg_start[e]).max()
        assert (one.windows(e).start == centre.eeg_start[e]).all()                           # 50 s: the centre's only
    assert 0 <= one.nbytes()['eeg'] - len(one.table) * 10_000 * 16 * 2 < 1024                   # 50 s of 16 float16 (+ header)
    assert capped.nbytes()['eeg'] < full.nbytes()['eeg'] and one.nbytes()['mel'] == full.nbytes()['mel']
    with pytest.raises(HMSDataError, match='max_seconds'): prepare(synth_root, tmp_path / 'x', max_seconds=49)


def test_margin_stores_room_to_jitter(synth_root, tmp_path):
    plain, wide = prepare(synth_root, tmp_path / 'plain'), prepare(synth_root, tmp_path / 'wide', margin=10)
    assert wide.nbytes()['eeg'] > plain.nbytes()['eeg'] and wide.nbytes()['spec'] >= plain.nbytes()['spec']
    n = pd.read_parquet(tmp_path / 'wide' / 'train' / 'index.parquet').set_index('eeg_id')
    comp = load_competition(synth_root)
    for e in wide.table.eeg_id[:8]:
        w, p = wide.windows(e), plain.windows(e)
        samples = pd.read_parquet(comp.eeg_path(e)).shape[0]
        assert (w.jitter_lo <= p.jitter_lo).all() and (w.jitter_hi >= p.jitter_hi).all()
        assert n.eeg_lo[e] == max(0, w.start.min() - 2000) and n.eeg_hi[e] == min(samples, w.start.max() + 12_000)


def test_two_concurrent_prepares_of_one_cache_both_succeed(synth_root, tmp_path):
    import subprocess
    import sys
    code = 'import sys; from hms_fastai.signals.prepare import prepare; print(chr(10) + str(len(prepare(sys.argv[1], sys.argv[2], "train"))))'
    procs = [subprocess.Popen([sys.executable, '-c', code, str(synth_root), str(tmp_path / 'cache')], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-1500:] for _, e in outs]
    assert [o.strip().splitlines()[-1] for o, _ in outs] == ['24', '24']
    assert not [p for p in (tmp_path / 'cache').rglob('*') if '.tmp' in p.name]


def test_a_complete_cache_opens_read_only(synth_root, tmp_path, monkeypatch):
    from hms_fastai.competition.meta import add_folds
    from hms_fastai.learn.data import hms_dls
    from hms_fastai.learn.exports import export_learner
    from hms_fastai.learn.infer import predict
    from hms_fastai.learn.learner import hms_learner
    cache = tmp_path / 'cache'
    train = prepare(synth_root, cache, 'train')
    prepare(synth_root, cache, 'test')                                      # a complete cache of both splits
    learn = hms_learner(hms_dls(add_folds(train.table, 3), train, bs=8), 'test_efficientnet')
    model = export_learner(learn, tmp_path / 'm.pkl')
    before = _snapshot(cache)
    for f in [cache, *cache.rglob('*')]: f.chmod(0o555 if f.is_dir() else 0o444)
    try:
        assert len(prepare(synth_root, cache, 'test')) == 6                  # nothing to write: opens
        preds = predict([model], synth_root, cache)
        assert len(preds) == 6 and _snapshot(cache) == before
        monkeypatch.setattr(prepare_mod, '_writable', lambda folder: False)   # as a read-only mount (root ignores chmod)
        assert len(prepare(synth_root, cache, 'test')) == 6 and _snapshot(cache) == before
        with pytest.raises(HMSDataError, match='test: is read-only and (spec|eeg)_.* is missing or truncated'):
            prepare(synth_root, cache, 'test', margin=3)                      # a different store would need writing
    finally:
        for f in [cache, *cache.rglob('*')]: f.chmod(0o755 if f.is_dir() else 0o644)


def test_a_truncated_chunk_is_rebuilt(synth_root, tmp_path):
    st = prepare(synth_root, tmp_path, 'train')
    want = st.images(st.table.eeg_id[:3])
    chunk = next((tmp_path / 'train').glob('eeg_*.npy'))
    data = chunk.read_bytes()
    chunk.write_bytes(data[:len(data) // 3])
    again = prepare(synth_root, tmp_path, 'train')
    assert chunk.stat().st_size == len(data)
    np.testing.assert_array_equal(again.images(again.table.eeg_id[:3]), want)


def test_a_prepare_killed_before_its_manifest_recovers(synth_root, tmp_path):
    cache = tmp_path / 'cache'
    cache.mkdir()
    (cache / '.lock').touch()
    (cache / '.manifest.json.999999.tmp').write_text('{"form')                 # a dead writer's half-written manifest
    st = prepare(synth_root, cache, 'test')
    assert len(st) == 6 and not list(cache.glob('.*.tmp'))


@pytest.mark.parametrize('rows', ['several', 'one'])
def test_a_spectrogram_offset_past_the_end_is_refused_naming_the_eeg(synth_root, tmp_path, rows):
    data = tmp_path / 'data'
    shutil.copytree(synth_root, data)
    train = pd.read_csv(data / 'train.csv')
    n = train.groupby('eeg_id').size()
    eeg = int(n[n > 1].index[0] if rows == 'several' else n[n == 1].index[0])
    row = train.index[train.eeg_id == eeg][-1]                                  # the eeg's last row only
    train.loc[row, 'spectrogram_label_offset_seconds'] = 99_999
    train.to_csv(data / 'train.csv', index=False)
    sid = int(train.loc[row, 'spectrogram_id'])
    with pytest.raises(HMSDataError, match=f'{sid}.parquet: eeg_id {eeg}: its spectrogram offset 99999 s is past the end'):
        prepare(data, tmp_path / 'cache', parts=('spec',))
    assert not list((tmp_path / 'cache' / 'train').glob('spec_*'))               # no chunk written


def test_a_read_only_cache_serves_any_request_its_chunks_hold(synth_root, tmp_path, monkeypatch):
    from hms_fastai.cli import main
    cache = tmp_path / 'cache'
    run = lambda *parts: main(['prepare', '--data', str(synth_root), '--cache', str(cache), *parts])
    assert run() == 0                                                            # as an image train: both parts
    want = Store.open(cache)
    pd.testing.assert_frame_equal(prepare(synth_root, cache)._index, want._index)   # prepare's store: the one on disk
    assert run('--parts', 'eeg') == 0                                            # then a --kind signal train: eeg only
    before = _snapshot(cache)
    monkeypatch.setattr(prepare_mod, '_writable', lambda folder: False)           # then read-only (root ignores chmod)
    assert [run(), run('--parts', 'eeg'), run('--parts', 'spec')] == [0, 0, 0]     # everything each request reads is there
    assert _snapshot(cache) == before
    got = prepare(synth_root, cache)
    pd.testing.assert_frame_equal(got._index, want._index)
    pd.testing.assert_frame_equal(got._windows, want._windows)
    np.testing.assert_array_equal(got.images(got.table.eeg_id[:3]), want.images(want.table.eeg_id[:3]))
    with pytest.raises(HMSDataError, match='train: is read-only and (spec|eeg)_.* is missing or truncated'):
        prepare(synth_root, cache, margin=3)                                     # another store would need writing


def test_16_bit_store_keeps_loud_and_missing_signals(synth_root, tmp_path, recipe):
    data = tmp_path / 'data'
    shutil.copytree(synth_root, data)
    comp = load_competition(data)
    eid = int(comp.train.eeg_id.iloc[0])
    sid = int(comp.train.spectrogram_id.iloc[0])
    loud = pd.read_parquet(comp.eeg_path(eid)) * 1000                            # peaks far beyond float16's 65,504 µV
    loud['Fp1'] = np.nan                                                          # two chains missing throughout
    offsets = comp.train.eeg_label_offset_seconds[comp.train.eeg_id == eid]
    centre = int((offsets.min() + offsets.max()) / 2 * 200)
    loud.iloc[centre + 3000:centre + 3500, loud.columns.get_loc('C3')] = np.nan  # and a gap in two others
    loud.to_parquet(comp.eeg_path(eid))
    spec = pd.read_parquet(comp.spec_path(sid))
    spec[SPEC_COLUMNS] *= 1e5                                                     # spectrogram power beyond float16's range
    spec.to_parquet(comp.spec_path(sid))
    st = prepare(data, tmp_path / 'cache')
    index = pd.read_parquet(tmp_path / 'cache' / 'train' / 'index.parquet').set_index('eeg_id')
    d = bipolar(loud.to_numpy(np.float32))[index.eeg_lo[eid]:index.eeg_hi[eid]]
    peak = np.abs(np.nan_to_num(d)).max(0)
    step = np.where(peak > 0, peak / 32_767, 1)
    np.testing.assert_allclose(index.eeg_scale[eid], step, rtol=1e-6)                # a step per chain: its peak / 32,767
    assert (peak[[0, 8]] == 0).all() and (np.delete(peak, [0, 8]) > 0).all()       # Fp1's two chains hold no values
    start = index.centre_start[eid] - index.eeg_lo[eid]
    got = st.with_channels(HALVES['eeg']).raw(st.rows([eid]), mels=False)['eeg'][0].numpy()
    want = d[start:start + 10_000]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))                  # NaN where the file has NaN
    assert np.isnan(want).any(0).sum() == 4 and (np.nan_to_num(np.abs(got - want)) <= step / 2 * 1.01).all()  # half a step
    mels = bipolar_mels(torch.from_numpy(np.stack([got, want])))
    assert (mels[0] - mels[1]).abs().max() < recipe.MEL_ATOL                      # what a random window's mels see
    r = recipe(data)
    for e, c in r.centre().loc[[eid, int(comp.train.eeg_id[comp.train.spectrogram_id == sid].iloc[-1])]].iterrows():
        r.assert_close(st.image(e), r.image(e, c.spec_s, int(c.eeg_start)))   # loud files still give the recipe's image


def test_prepare_reads_each_file_once_and_computes_each_eegs_mels_once(synth_root, tmp_path, monkeypatch):
    reads, mels = [], []
    for name in ('read_eeg', 'read_spectrogram'):
        monkeypatch.setattr(prepare_mod, name, lambda path, _f=getattr(prepare_mod, name): (reads.append(path.name), _f(path))[1])
    monkeypatch.setattr(prepare_mod, 'bipolar_mels', lambda d, _f=prepare_mod.bipolar_mels: (mels.append(len(d)), _f(d))[1])
    monkeypatch.setattr(prepare_mod, 'EEG_CHUNK', 8)
    comp = load_competition(synth_root)
    prepare(synth_root, tmp_path)
    files = {f'{e}.parquet' for e in comp.train.eeg_id} | {f'{s}.parquet' for s in comp.train.spectrogram_id}
    assert sorted(reads) == sorted(files) and sum(mels) == comp.train.eeg_id.nunique()   # the work grows with the files
