"""Synthetic competition data: real layout and dtypes, determinism, consistent votes, a readable class signal."""
import hashlib

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from hms_fastai.competition.synth import SPEC_GAIN, _draw_totals, make_synthetic
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
    te = tables['test.csv']
    for s, e in zip(te.spectrogram_id, te.eeg_id):
        spec = pd.read_parquet(small / 'test_spectrograms' / f'{s}.parquet')
        eeg = pd.read_parquet(small / 'test_eegs' / f'{e}.parquet')
        if eeg.iloc[:, 0].isna().any() or spec.loc[spec.time == 301].isna().any(axis=None): continue
        est = _psd(eeg, 26)                                    # eeg centre = the spectrogram row at 301 s
        err = [np.median(np.abs(np.log(est / spec.loc[spec.time == t, SPEC_COLUMNS].to_numpy()[0]))) for t in [301, 303]]
        assert err[0] < 0.08 and err[0] < err[1] / 2, err
    tr = tables['train.csv'].groupby('eeg_id').last()
    for e, row in tr.iterrows():
        spec = pd.read_parquet(small / 'train_spectrograms' / f'{row.spectrogram_id}.parquet')
        eeg = pd.read_parquet(small / 'train_eegs' / f'{e}.parquet')
        at = spec.time == row.spectrogram_label_offset_seconds + 301
        if eeg.iloc[:, 0].isna().any() or spec.loc[at].isna().any(axis=None): continue
        est = _psd(eeg, row.eeg_label_offset_seconds + 26)
        assert np.median(np.abs(np.log(est / spec.loc[at, SPEC_COLUMNS].to_numpy()[0]))) < 0.08


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
