"""Synthetic competition data: real layout and dtypes, determinism, consistent votes, a readable class signal."""
import hashlib

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from hms_fastai.competition.score import kaggle_score
from hms_fastai.competition.synth import SPEC_GAIN, _competition_layout, _draw_totals, _window_truth, make_synthetic
from hms_fastai.core.constants import CHAINS, CLASSES, EEG_COLUMNS, EEG_RATE, REGIONS, SPEC_COLUMNS, SPEC_FREQS, TARGETS
from hms_fastai.core.errors import HMSDataError

TRAIN_COLUMNS = ['eeg_id', 'eeg_sub_id', 'eeg_label_offset_seconds', 'spectrogram_id', 'spectrogram_sub_id',
                 'spectrogram_label_offset_seconds', 'label_id', 'patient_id', 'expert_consensus', *TARGETS]
FILES = ['train.csv', 'test.csv', 'sample_submission.csv', 'test_solution.csv', 'test_oracle.csv']


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    """12 train / 4 test eegs."""
    return make_synthetic(tmp_path_factory.mktemp('small'), n_eegs=12, n_test=4, seed=0)


@pytest.fixture(scope='module')
def tables(small):
    """The csv files of `small`, read with pandas."""
    return {f: pd.read_csv(small / f) for f in FILES}


@pytest.fixture(scope='module')
def wide(tmp_path_factory):
    """48 test eegs with their oracle probabilities: enough to see the class signal."""
    return make_synthetic(tmp_path_factory.mktemp('wide'), n_eegs=2, n_test=48, seed=3)


def _digest(root) -> dict:
    """md5 of every file under `root`, by relative path."""
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest() for p in root.rglob('*') if p.is_file()}


def _psd(eeg: pd.DataFrame, centre: float) -> np.ndarray:
    """The 400 spectrogram values recomputed from an EEG: 4 Hann segments of 4 s over centre ± 5 s, per chain."""
    w = np.hanning(4 * EEG_RATE + 1)[:-1]
    out = []
    for r in REGIONS:
        d = np.stack([eeg[a].to_numpy(float) - eeg[b].to_numpy(float) for a, b in zip(CHAINS[r][:-1], CHAINS[r][1:])])
        starts = [round((centre - 5 + 2 * j) * EEG_RATE) for j in range(4)]
        segs = np.stack([d[:, a:a + 4 * EEG_RATE] for a in starts], axis=1)
        p = np.abs(np.fft.rfft(segs * w, n=1024, axis=-1)[..., 3:103]) ** 2
        out.append(p.mean((0, 1)) * 2 * SPEC_GAIN / (EEG_RATE * (w ** 2).sum()))
    return np.concatenate(out)


def test_layout_and_dtypes(small, tables):
    tr, te = tables['train.csv'], tables['test.csv']
    assert list(tr.columns) == TRAIN_COLUMNS and list(te.columns) == ['spectrogram_id', 'eeg_id', 'patient_id']
    assert tr.eeg_label_offset_seconds.dtype == float and (tr.eeg_label_offset_seconds % 2 == 0).all()
    assert (tr.spectrogram_label_offset_seconds % 2 == 0).all()
    for f in ['sample_submission.csv', 'test_solution.csv', 'test_oracle.csv']:
        assert list(tables[f].columns) == ['eeg_id', *TARGETS] and tables[f].eeg_id.tolist() == te.eeg_id.tolist()
    assert np.allclose(tables['sample_submission.csv'][TARGETS], 1 / 6)
    for split, table in [('train', tr), ('test', te)]:
        assert {p.stem for p in (small / f'{split}_eegs').iterdir()} == set(map(str, table.eeg_id))
        assert {p.stem for p in (small / f'{split}_spectrograms').iterdir()} == set(map(str, table.spectrogram_id))
    for i in te.eeg_id:
        eeg = pq.read_table(small / 'test_eegs' / f'{i}.parquet')
        assert eeg.schema.names == EEG_COLUMNS and {str(t) for t in eeg.schema.types} == {'float'}
        assert eeg.num_rows == 10_000
    for i in te.spectrogram_id:
        spec = pq.read_table(small / 'test_spectrograms' / f'{i}.parquet')
        assert spec.schema.names == ['time', *SPEC_COLUMNS] and str(spec.schema.field('time').type) == 'int16'
        assert spec.column('time').to_numpy().tolist() == list(range(1, 600, 2))


def test_train_files_cover_every_offset(small, tables):
    tr = tables['train.csv']
    for i, g in tr.groupby('eeg_id'):
        eeg = pq.read_table(small / 'train_eegs' / f'{i}.parquet')
        assert eeg.schema.names == EEG_COLUMNS and {str(t) for t in eeg.schema.types} == {'float'}
        assert eeg.num_rows % EEG_RATE == 0 and eeg.num_rows >= (g.eeg_label_offset_seconds.max() + 50) * EEG_RATE
        assert g.eeg_sub_id.tolist() == list(range(len(g)))
    for i, g in tr.groupby('spectrogram_id'):
        spec = pq.read_table(small / 'train_spectrograms' / f'{i}.parquet')
        time = spec.column('time').to_numpy()
        assert str(spec.schema.field('time').type) == 'int64' and time[0] == 1 and (np.diff(time) == 2).all()
        assert 2 * len(time) >= max(600, g.spectrogram_label_offset_seconds.max() + 600)
        assert g.spectrogram_sub_id.tolist() == list(range(len(g))) and g.patient_id.nunique() == 1
        vals = spec.select(SPEC_COLUMNS).to_pandas().to_numpy()
        assert np.nanmin(vals) > 0 and vals.dtype == np.float32


def test_ids_votes_and_solution(tables):
    tr, te, sol, orc = (tables[f] for f in ['train.csv', 'test.csv', 'test_solution.csv', 'test_oracle.csv'])
    assert tr.label_id.is_unique and te.eeg_id.is_unique and te.spectrogram_id.is_unique
    assert not set(tr.eeg_id) & set(te.eeg_id) and not set(tr.spectrogram_id) & set(te.spectrogram_id)
    assert not set(tr.patient_id) & set(te.patient_id) and tr.groupby('patient_id').eeg_id.nunique().max() > 1
    per_eeg = tr.groupby('eeg_id')[[*TARGETS, 'expert_consensus', 'patient_id', 'spectrogram_id']].nunique()
    assert (per_eeg == 1).all(axis=None)
    votes = tr.groupby('eeg_id')[TARGETS].first().to_numpy()
    assert (votes.sum(axis=1) >= 1).all()
    assert (tr.groupby('eeg_id').expert_consensus.first().to_numpy() == np.array(CLASSES)[votes.argmax(axis=1)]).all()
    s = sol[TARGETS].to_numpy()
    assert np.allclose(s.sum(axis=1), 1) and np.allclose(orc[TARGETS].sum(axis=1), 1) and (orc[TARGETS] > 0).all().all()
    scaled = s[:, None, :] * np.arange(1, 41)[:, None]          # a vote fraction times its total is a whole number
    assert np.isclose(scaled, np.round(scaled), atol=1e-9).all(axis=2).any(axis=1).all()


def test_vote_totals_look_real():
    rng = np.random.default_rng(0)
    totals, expert = _draw_totals(rng, 3000), _draw_totals(rng, 3000, expert=True)
    assert totals.min() >= 1 and 0.45 < (totals <= 3).mean() < 0.65 and 0.28 < (totals >= 10).mean() < 0.38
    assert expert.min() >= 10 and expert.max() <= 28


def test_nan_gaps_are_null_rows(small):
    eegs = [pq.read_table(p).to_pandas().isna() for p in (small / 'train_eegs').iterdir()]
    specs = [pq.read_table(p).select(SPEC_COLUMNS).to_pandas().isna() for p in (small / 'train_spectrograms').iterdir()]
    assert sum(m.any(axis=None) for m in eegs) >= 1 and sum(m.any(axis=None) for m in specs) >= 1
    for m in eegs + specs: assert (m.all(axis=1) == m.any(axis=1)).all()   # gaps are whole rows
    gaps = [m.all(axis=1).sum() for m in eegs if m.any(axis=None)]
    assert all(EEG_RATE // 2 <= n <= 10 * EEG_RATE for n in gaps)
    assert all(5 <= m.all(axis=1).sum() <= 30 for m in specs if m.any(axis=None))


def test_deterministic_for_a_seed(small, tmp_path):
    assert _digest(make_synthetic(tmp_path / 'a', n_eegs=12, n_test=4, seed=0)) == _digest(small)
    other = _digest(make_synthetic(tmp_path / 'b', n_eegs=12, n_test=4, seed=1))
    assert pd.read_csv(tmp_path / 'b' / 'train.csv').eeg_id.tolist() != pd.read_csv(small / 'train.csv').eeg_id.tolist()
    assert other['test_oracle.csv'] != _digest(small)['test_oracle.csv']


def test_spectrogram_is_computed_from_the_eeg(small, tables):
    te, checked = tables['test.csv'], []
    for s, e in zip(te.spectrogram_id, te.eeg_id):
        spec = pd.read_parquet(small / 'test_spectrograms' / f'{s}.parquet')
        eeg = pd.read_parquet(small / 'test_eegs' / f'{e}.parquet')
        if eeg.iloc[:, 0].isna().any() or spec.loc[spec.time == 301].isna().any(axis=None): continue   # a gap: skipped
        checked.append(e)
        est = _psd(eeg, 26)                                    # eeg centre = the spectrogram row at 301 s
        err = [np.median(np.abs(np.log(est / spec.loc[spec.time == t, SPEC_COLUMNS].to_numpy()[0]))) for t in [301, 303]]
        assert err[0] < 0.08 and err[0] < err[1] / 2, err
    tr = tables['train.csv'].groupby('eeg_id').last()
    for e, row in tr.iterrows():
        spec = pd.read_parquet(small / 'train_spectrograms' / f'{row.spectrogram_id}.parquet')
        eeg = pd.read_parquet(small / 'train_eegs' / f'{e}.parquet')
        at = spec.time == row.spectrogram_label_offset_seconds + 301
        if eeg.iloc[:, 0].isna().any() or spec.loc[at].isna().any(axis=None): continue
        checked.append(e)
        est = _psd(eeg, row.eeg_label_offset_seconds + 26)
        assert np.median(np.abs(np.log(est / spec.loc[at, SPEC_COLUMNS].to_numpy()[0]))) < 0.08
    assert len(checked) >= (len(te) + len(tr)) * 3 // 4            # gaps skip a few, never the test


def test_class_signal_is_readable(wide):
    te, p = pd.read_csv(wide / 'test.csv'), pd.read_csv(wide / 'test_oracle.csv')[TARGETS].to_numpy()
    v = np.stack([pd.read_parquet(wide / 'test_spectrograms' / f'{s}.parquet')[SPEC_COLUMNS].to_numpy()
                  for s in te.spectrogram_id]).reshape(len(te), -1, 4, 100)
    f, power = np.array(SPEC_FREQS, float), np.nanmean(v, axis=1)
    total = power.sum(axis=2)
    delta = (power[:, :, (f >= 1) & (f < 3.5)].sum(axis=2) / total).mean(axis=1)
    theta = (power[:, :, (f >= 3.5) & (f < 9)].sum(axis=2) / total).mean(axis=1)
    asym = np.abs(np.log(total[:, [0, 2]].sum(axis=1) / total[:, [1, 3]].sum(axis=1)))
    corr = lambda a, b: np.corrcoef(a, b)[0, 1]
    assert corr(p[:, 0], theta) > 0.5                       # seizure: 3–8 Hz rhythm
    assert corr(p[:, 3] + p[:, 4], delta) > 0.5             # LRDA, GRDA: rhythmic delta
    assert corr(p[:, 1] + p[:, 3], asym) > 0.4              # LPD, LRDA: one hemisphere
    assert corr(p[:, 5], np.log(total.sum(axis=1))) < -0.3  # Other: background only


def test_matches_the_real_files(real_root, small, tables):
    real_eeg = pq.read_schema(real_root / 'train_eegs' / '1000913311.parquet')
    for split in ['train', 'test']:
        ours = pq.read_schema(next((small / f'{split}_eegs').iterdir()))
        assert ours.names == real_eeg.names and ours.types == real_eeg.types
    for split, real in [('train', 'train_spectrograms/353733.parquet'), ('test', 'test_spectrograms/853520.parquet')]:
        ours = pq.read_schema(next((small / f'{split}_spectrograms').iterdir()))
        theirs = pq.read_schema(real_root / real)
        assert ours.names == theirs.names and ours.types == theirs.types
    for f in ['train.csv', 'test.csv', 'sample_submission.csv']:
        real = pd.read_csv(real_root / f)
        assert list(tables[f].columns) == list(real.columns) and (tables[f].dtypes == real.dtypes).all(), f


@pytest.mark.parametrize('kw, msg', [(dict(n_eegs=0), 'needs ≥ 1'), (dict(n_test=0), 'needs ≥ 1'),
                                     (dict(seed=-1), 'seed must be ≥ 0')])
def test_bad_arguments(tmp_path, kw, msg):
    with pytest.raises(HMSDataError, match=msg): make_synthetic(tmp_path, **kw)


def test_out_must_be_a_folder(tmp_path):
    (tmp_path / 'file').write_text('x')
    with pytest.raises(HMSDataError, match='not a folder'): make_synthetic(tmp_path / 'file', n_eegs=1, n_test=1)


@pytest.fixture(scope='module')
def windows(tmp_path_factory):
    """24 train / 6 test eegs whose latent pattern changes between label windows."""
    return make_synthetic(tmp_path_factory.mktemp('window'), n_eegs=24, n_test=6, seed=0, truth='window')


@pytest.fixture(scope='module')
def mle(tmp_path_factory):
    """The Kaggle layout (default n_test) and MLE-bench's split of its train.csv, from the same arguments (per-window truth)."""
    base = tmp_path_factory.mktemp('mle')
    kw = dict(n_eegs=40, seed=2, truth='window')
    return make_synthetic(base / 'kaggle', **kw), make_synthetic(base / 'mle', layout='mlebench', **kw)


def test_eeg_truth_is_the_default(small, tmp_path):
    assert _digest(make_synthetic(tmp_path / 'a', n_eegs=12, n_test=4, seed=0, truth='eeg', layout='kaggle')) == _digest(small)


def test_window_truth_segments():
    bounds, probs = np.array([10.0, 30.0]), np.eye(6)[[0, 1, 2]]
    got = _window_truth([(bounds, probs)], np.zeros(4, np.int64), np.array([0.0, 8.0, 20.0, 33.0]))
    np.testing.assert_allclose(got[:, :3], [[1, 0, 0], [0.7, 0.3, 0], [0, 1, 0], [0, 0.2, 0.8]])


def test_window_votes_follow_each_row(windows, tables):
    tr, orc = pd.read_csv(windows / 'train.csv'), pd.read_csv(windows / 'test_oracle.csv')
    base = tables['train.csv']
    totals = tr[TARGETS].sum(axis=1)
    assert (totals.groupby(tr.eeg_id).nunique() == 1).all() and totals.min() >= 1           # one panel per eeg, every row voted
    assert (tr.expert_consensus == np.array(CLASSES)[tr[TARGETS].to_numpy().argmax(axis=1)]).all()
    assert (tr.groupby('eeg_id')[TARGETS].nunique() > 1).any(axis=None)                      # rows of an eeg differ
    assert np.allclose(orc[TARGETS].sum(axis=1), 1) and (orc[TARGETS] > 0).all(axis=None)
    assert list(tr.columns) == list(base.columns)


def test_window_truth_shares_the_layout_of_eeg_truth(windows, tmp_path):
    eeg = make_synthetic(tmp_path / 'e', n_eegs=24, n_test=6, seed=0)
    a, b = pd.read_csv(windows / 'train.csv'), pd.read_csv(eeg / 'train.csv')
    keep = [c for c in a.columns if c not in [*TARGETS, 'expert_consensus']]
    pd.testing.assert_frame_equal(a[keep], b[keep])
    assert pd.read_csv(windows / 'test.csv').equals(pd.read_csv(eeg / 'test.csv'))
    assert not np.allclose(pd.read_csv(windows / 'test_oracle.csv')[TARGETS], pd.read_csv(eeg / 'test_oracle.csv')[TARGETS])


def test_mlebench_split_is_prepare_py_on_the_kaggle_train_csv(mle):
    kaggle, root = mle
    raw = pd.read_csv(kaggle / 'train.csv')
    public, private = root / 'public', root / 'private'
    assert sorted(p.name for p in root.iterdir()) == ['private', 'public']
    assert sorted(p.name for p in public.iterdir()) == ['sample_submission.csv', 'test.csv', 'test_eegs', 'test_oracle.csv',
                                                       'test_solution.csv', 'test_spectrograms', 'train.csv', 'train_eegs',
                                                       'train_spectrograms']
    assert sorted(p.name for p in private.iterdir()) == ['gold_submission.csv', 'test.csv']
    specs = raw.spectrogram_id.unique()                       # sklearn's ShuffleSplit(test_size=0.1, random_state=0), by hand
    test_specs = set(specs[np.random.RandomState(0).permutation(len(specs))[:int(np.ceil(0.1 * len(specs)))]])
    new_train, new_test = raw[~raw.spectrogram_id.isin(test_specs)], raw[raw.spectrogram_id.isin(test_specs)]
    pd.testing.assert_frame_equal(pd.read_csv(public / 'train.csv'), new_train.reset_index(drop=True))
    pd.testing.assert_frame_equal(pd.read_csv(private / 'test.csv'), new_test.reset_index(drop=True))
    test = pd.read_csv(public / 'test.csv')
    assert list(test.columns) == ['spectrogram_id', 'eeg_id', 'patient_id'] and len(test) == len(new_test)
    assert test.eeg_id.tolist() == new_test.eeg_id.tolist() and not test.eeg_id.is_unique
    gold = pd.read_csv(private / 'gold_submission.csv')
    np.testing.assert_allclose(gold[TARGETS], new_test[TARGETS] / new_test[TARGETS].to_numpy().sum(axis=1, keepdims=True))
    for name in ['sample_submission.csv', 'test_solution.csv', 'test_oracle.csv']:
        assert pd.read_csv(public / name).eeg_id.tolist() == test.eeg_id.tolist(), name
    assert np.allclose(pd.read_csv(public / 'sample_submission.csv')[TARGETS], 1 / 6)
    assert pd.read_csv(public / 'test_solution.csv').equals(gold)
    for split, t in [('train', new_train), ('test', new_test)]:   # full-length recordings, byte copies of the train files
        for kind, col in [('eegs', 'eeg_id'), ('spectrograms', 'spectrogram_id')]:
            files = sorted((public / f'{split}_{kind}').iterdir(), key=lambda f: int(f.stem))
            assert [int(f.stem) for f in files] == sorted(t[col].unique())
            assert all(f.read_bytes() == (kaggle / f'train_{kind}' / f.name).read_bytes() for f in files)


def test_mlebench_oracle_is_each_rows_window_truth(mle):
    kaggle, root = mle
    test, orc = pd.read_csv(root / 'private' / 'test.csv'), pd.read_csv(root / 'public' / 'test_oracle.csv')
    assert (orc.groupby('eeg_id')[TARGETS].nunique() > 1).any(axis=None)        # windows of one eeg differ in truth
    from mlebench_grader import grade
    uniform = pd.read_csv(root / 'public' / 'sample_submission.csv')
    per_eeg = orc.groupby('eeg_id')[TARGETS].transform('mean').assign(eeg_id=orc.eeg_id)[['eeg_id', *TARGETS]]
    for sub in (uniform, per_eeg, orc):
        assert kaggle_score(test, sub) == pytest.approx(kaggle_score(pd.read_csv(root / 'public' / 'test_solution.csv'), sub))
    for sub in (uniform, per_eeg):                             # pairing-invariant: equal under MLE-bench's unstable sort
        assert kaggle_score(test, sub) == pytest.approx(grade(sub.copy(), test.copy()), rel=1e-12)
    assert kaggle_score(test, orc) < kaggle_score(test, per_eeg) < kaggle_score(test, uniform)


def test_competition_shape_at_full_scale():
    """The layout alone (no signals) of like='competition' at scale 1: the real counts, exactly."""
    recs, eegs, rows = _competition_layout(np.random.default_rng(0), 1.0)
    n_sub = np.bincount(rows['eeg'])
    assert (len(eegs['rec']), len(rows['eeg']), len(recs['length']), recs['patient'][-1] + 1) == (17_089, 106_800, 11_138, 1_950)
    assert n_sub.max() <= 743 and 2 <= np.median(n_sub) <= 4
    assert (eegs['length'] == rows['offset'][np.cumsum(n_sub) - 1] + 50).all()           # an EEG ends with its last window
    last = pd.Series(rows['spec_offset']).groupby(eegs['rec'][rows['eeg']]).max().to_numpy()
    assert (recs['length'] == last + 600).all() and (rows['offset'] % 2 == 0).all()     # a spectrogram likewise
    assert 1_000 < rows['offset'].max() < 10_000


def test_competition_shape_is_the_same_at_two_scales():
    stats = []
    for scale in (0.06, 0.24):
        recs, eegs, rows = _competition_layout(np.random.default_rng(1), scale)
        n_sub = np.bincount(rows['eeg'])
        assert len(eegs['rec']) == round(17_089 * scale) and len(rows['eeg']) == round(106_800 * scale)
        stats.append([n_sub.mean(), np.median(n_sub), (n_sub == 1).mean(), len(eegs['rec']) / len(recs['length']),
                      np.median(eegs['length']), np.median(recs['length'])])
    np.testing.assert_allclose(stats[0], stats[1], rtol=0.15)


def test_competition_like_folder(tmp_path):
    root = make_synthetic(tmp_path / 'c', like='competition', scale=0.002, n_test=2)
    tr = pd.read_csv(root / 'train.csv')
    assert (tr.eeg_id.nunique(), len(tr), tr.spectrogram_id.nunique()) == (34, 214, 22)
    for i, g in tr.groupby('eeg_id'):
        assert pq.read_metadata(root / 'train_eegs' / f'{i}.parquet').num_rows == (g.eeg_label_offset_seconds.max() + 50) * EEG_RATE


@pytest.mark.parametrize('kw, msg', [
    (dict(like='competition', n_eegs=10), "like='competition' sets the counts"), (dict(scale=0.5), 'applies to like'),
    (dict(layout='mlebench', n_test=3), "MLE-bench's test split"), (dict(truth='row'), 'truth: must be one of'),
    (dict(layout='mle'), 'layout: must be one of'), (dict(like='competition', scale=1e-5), 'must give ≥ 2 eegs'),
    (dict(layout='mlebench', n_eegs=1), 'MLE-bench splits ≥ 2'),
])
def test_bad_shape_arguments(tmp_path, kw, msg):
    with pytest.raises(HMSDataError, match=msg): make_synthetic(tmp_path / 'x', **kw)
    assert not (tmp_path / 'x').exists()


def test_mlebench_output_is_rewritable_and_guarded(tmp_path):
    root = make_synthetic(tmp_path / 'm', n_eegs=6, layout='mlebench')
    before = _digest(root)
    assert _digest(make_synthetic(root, n_eegs=6, layout='mlebench')) == before
    (tmp_path / 'public').mkdir()
    (tmp_path / 'public' / 'train.csv').write_text('mine')
    with pytest.raises(HMSDataError, match='not a previous synthetic output'): make_synthetic(tmp_path, layout='mlebench')


def test_cli_synth_shapes(tmp_path, capsys):
    from hms_fastai.cli import main
    assert main(['synth', '--out', str(tmp_path / 'm'), '--n-eegs', '20', '--layout', 'mlebench', '--truth', 'window']) == 0
    assert capsys.readouterr().out.strip() == f'wrote synthetic competition data to {tmp_path / "m" / "public"} (answers in {tmp_path / "m" / "private"})'
    assert main(['check', '--data', str(tmp_path / 'm' / 'public'), '--deep']) == 0
    for args, msg in [(['--like', 'competition', '--n-eegs', '5'], "n_eegs: like='competition' sets the counts"),
                      (['--layout', 'mlebench', '--n-test', '5'], "n_test: MLE-bench's test split"),
                      (['--scale', '0.5'], "scale: applies to like='competition' only")]:
        assert main(['synth', '--out', str(tmp_path / 'x'), *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and msg in err[0], err
    assert not (tmp_path / 'x').exists()


def test_window_truth_is_what_the_labelled_window_shows(tmp_path):
    """truth='window': a test row's oracle is the pattern of its central 10 s, not of the whole recording."""
    root = make_synthetic(tmp_path / 'w', n_eegs=2, n_test=48, seed=3, truth='window')
    te, p = pd.read_csv(root / 'test.csv'), pd.read_csv(root / 'test_oracle.csv')[TARGETS].to_numpy()
    f = np.array(SPEC_FREQS, float)
    theta = []
    for s in te.spectrogram_id:
        spec = pd.read_parquet(root / 'test_spectrograms' / f'{s}.parquet')
        power = {k: np.nanmean(spec.loc[rows, SPEC_COLUMNS].to_numpy().reshape(-1, 4, 100), axis=0)
                 for k, rows in [('centre', spec.time.between(299, 303)), ('all', spec.time > 0)]}
        theta.append({k: (v[:, (f >= 3.5) & (f < 9)].sum(axis=1) / v.sum(axis=1)).mean() for k, v in power.items()})
    centre, whole = (np.array([t[k] for t in theta]) for k in ('centre', 'all'))
    assert np.corrcoef(p[:, 0], centre)[0, 1] > 0.5                          # seizure: the 3–8 Hz rhythm, where labelled
    assert np.corrcoef(p[:, 0], centre)[0, 1] > np.corrcoef(p[:, 0], whole)[0, 1] + 0.1
