"""Reading and validating competition files: every real sample file, synthetic data, and a bad-input matrix."""
import re
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hms_fastai.cli import main
from hms_fastai.competition.io import load_competition, parquet_file, read_csv, read_eeg, read_spectrogram
from hms_fastai.competition.meta import eeg_table
from hms_fastai.core.constants import EEG_COLUMNS, SPEC_COLUMNS, TARGETS
from hms_fastai.core.errors import HMSDataError


def test_every_real_file_reads(real_root):
    for p in sorted(real_root.glob('*_eegs/*.parquet')):
        df = read_eeg(p)
        assert list(df.columns) == EEG_COLUMNS and (df.dtypes == np.float32).all() and len(df) >= 10_000
    for p in sorted(real_root.glob('*_spectrograms/*.parquet')):
        df = read_spectrogram(p)
        assert list(df.columns) == ['time', *SPEC_COLUMNS] and len(df) >= 300
        assert (np.diff(df.time) == 2).all() and df.time.iloc[0] == 1
    assert read_spectrogram(real_root / 'test_spectrograms/853520.parquet').time.dtype == np.int16
    assert read_spectrogram(real_root / 'train_spectrograms/1000086677.parquet')[SPEC_COLUMNS].isna().all(axis=1).sum() == 26


def test_real_competition_folder(real_root):
    comp = load_competition(real_root)
    assert comp.test.eeg_id.tolist() == [3911565283] and comp.train.eeg_id.tolist() == [1628180742]
    assert comp.eeg_path(3911565283, 'test').is_file() and comp.spec_path(353733).is_file()


def test_missing_files_are_listed_together(real_root, tmp_path):
    for name in ['test.csv', 'sample_submission.csv', 'test_eegs', 'test_spectrograms', 'train_eegs', 'train_spectrograms']:
        (tmp_path / name).symlink_to(real_root / name)
    shutil.copy(real_root / 'train_head50_reconstructed.csv', tmp_path / 'train.csv')
    with pytest.raises(HMSDataError, match=r'train_eegs: 11 train EEG file\(s\) missing: 387987538, 722738444') as e:
        load_competition(tmp_path)
    assert '1628180742' not in str(e.value)


def test_synthetic_folder_reads_through_the_same_path(synth_root):
    comp = load_competition(synth_root)
    for i in comp.train.eeg_id.unique()[:3]: read_eeg(comp.eeg_path(i))
    for i in comp.test.eeg_id: assert len(read_eeg(comp.eeg_path(i, 'test'))) == 10_000
    for i in comp.test.spectrogram_id: assert len(read_spectrogram(comp.spec_path(i, 'test'))) == 300


def _rewrite(path, fn):
    """Rewrite a parquet file through `fn(DataFrame) -> DataFrame`."""
    pq.write_table(pa.Table.from_pandas(fn(pd.read_parquet(path)), preserve_index=False), path)


def _first(root, split, kind):
    comp = load_competition(root, check_files=False)
    table = comp.train if split == 'train' else comp.test
    ids = table.eeg_id if kind == 'eegs' else table.spectrogram_id
    return root / f'{split}_{kind}' / f'{int(ids.iloc[0])}.parquet'


def _csv(root, name, fn):
    df = fn(pd.read_csv(root / name))
    df.to_csv(root / name, index=False)


def _as_folder(path):
    """Put an empty folder where the file `path` was."""
    path.unlink()
    path.mkdir()


BAD = {
    'missing column': (lambda r: _rewrite(_first(r, 'train', 'eegs'), lambda d: d.drop(columns='Cz')), r"missing column\(s\) \['Cz'\]"),
    'extra column': (lambda r: _rewrite(_first(r, 'train', 'spectrograms'), lambda d: d.assign(foo=1.0)), r"unknown column\(s\) \['foo'\]"),
    'wrong dtype': (lambda r: _rewrite(_first(r, 'test', 'eegs'), lambda d: d.assign(Fp1=d.Fp1.astype(str))), "'Fp1' has dtype \\w*string, expected float32"),
    'missing parquet': (lambda r: _first(r, 'train', 'spectrograms').unlink(), r'train spectrogram file\(s\) missing'),
    'corrupt parquet': (lambda r: _first(r, 'test', 'spectrograms').write_bytes(_first(r, 'test', 'spectrograms').read_bytes()[:1000]), 'not a readable parquet'),
    'short eeg': (lambda r: _rewrite(_first(r, 'test', 'eegs'), lambda d: d.iloc[:8000]), 'shorter than the 50 s window'),
    'partial second': (lambda r: _rewrite(_first(r, 'test', 'eegs'), lambda d: pd.concat([d, d.iloc[:7]])), 'not a whole number of seconds'),
    'time steps': (lambda r: _rewrite(_first(r, 'test', 'spectrograms'), lambda d: d.assign(time=np.arange(len(d), dtype=np.int16))), 'time steps must be 2 s'),
    'zero votes': (lambda r: _csv(r, 'train.csv', lambda d: d.assign(**{c: d[c].where(d.index > 0, 0) for c in d.columns if c.endswith('_vote')})), 'votes sum to 0'),
    'sample lacks a test row': (lambda r: _csv(r, 'test.csv', lambda d: pd.concat([d, d.iloc[:1]])),
                                r'sample_submission.csv: eeg_id\(s\) \[\d+\] occur a different number of times than in test.csv \(6 rows here, 7 there\)'),
    'eeg under two spectrograms': (lambda r: _csv(r, 'test.csv', lambda d: pd.concat([d, d.iloc[:1].assign(spectrogram_id=7)])),
                                   r'test.csv: eeg_id\(s\) \[\d+\] have more than one spectrogram_id'),
    'train eeg under two patients': (lambda r: _csv(r, 'train.csv', lambda d: d.assign(   # one row of an eeg with several
                                         patient_id=d.patient_id.mask(d.index == d.index[d.eeg_id.duplicated()][0], -1))),
                                     r'train.csv: eeg_id\(s\) \[\d+\] have more than one patient_id'),
    'sample out of order': (lambda r: _csv(r, 'sample_submission.csv', lambda d: d.iloc[::-1]),
                            r"sample_submission.csv: rows are not in test.csv's order: row 1 has eeg_id \d+"),
    'negative test offset': (lambda r: _csv(r, 'test.csv', lambda d: d.assign(eeg_label_offset_seconds=-2.0, spectrogram_label_offset_seconds=0.0)),
                             r'test.csv: eeg_id\(s\) \[.*\] have a missing, non-numeric or negative eeg_label_offset_seconds'),
    'one test offset column': (lambda r: _csv(r, 'test.csv', lambda d: d.assign(spectrogram_label_offset_seconds=0.0)),
                               'test.csv: gives spectrogram_label_offset_seconds but not eeg_label_offset_seconds: give both'),
    'folder for a train EEG': (lambda r: _as_folder(_first(r, 'train', 'eegs')), r'train_eegs: 1 train EEG path\(s\) are folders'),
    'missing csv': (lambda r: (r / 'test.csv').unlink(), 'test.csv: file not found'),
}


@pytest.mark.parametrize('case', list(BAD))
def test_bad_input_is_one_clear_error_and_exit_2(case, synth_root, tmp_path, capsys):
    root = tmp_path / 'data'
    shutil.copytree(synth_root, root)
    corrupt, msg = BAD[case]
    corrupt(root)
    assert main(['check', '--data', str(root), '--deep']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(root) in err[0]
    assert re.search(msg, err[0]), err[0]


def _per_row(root, repeats=(3, 1, 2)):
    """Rewrite test.csv and sample_submission.csv with one row per label row: the first eegs repeated (MLE-bench's shape)."""
    test = pd.read_csv(root / 'test.csv')
    test = test.loc[np.repeat(test.index[:len(repeats)], repeats)].reset_index(drop=True)
    test.to_csv(root / 'test.csv', index=False)
    sample = pd.read_csv(root / 'sample_submission.csv').set_index('eeg_id').loc[test.eeg_id].reset_index()
    sample.to_csv(root / 'sample_submission.csv', index=False)
    return test


def test_repeated_test_ids_are_valid(synth_root, tmp_path, capsys):
    root = tmp_path / 'data'
    shutil.copytree(synth_root, root)
    test = _per_row(root)
    comp = load_competition(root)
    assert comp.test.eeg_id.tolist() == test.eeg_id.tolist()
    table = eeg_table(comp.test, root / 'test.csv')
    assert table.eeg_id.tolist() == test.eeg_id.unique().tolist() and (table[['eeg_offset_min', 'spec_offset_max']] == 0).all(axis=None)
    assert main(['check', '--data', str(root)]) == 0
    assert capsys.readouterr().out.strip().endswith('6 test rows, 3 test eegs: ok')


def test_test_offsets_are_read_when_given(synth_root, tmp_path):
    root = tmp_path / 'data'
    shutil.copytree(synth_root, root)
    test = _per_row(root).assign(eeg_label_offset_seconds=[0., 4, 10, 0, 2, 6], spectrogram_label_offset_seconds=[0., 4, 10, 0, 2, 6])
    test.to_csv(root / 'test.csv', index=False)
    table = eeg_table(load_competition(root).test).set_index('eeg_id')
    first, second, third = test.eeg_id.unique()
    assert table.loc[first, ['eeg_offset_min', 'eeg_offset_max', 'spec_offset_max']].tolist() == [0, 10, 10]
    assert table.loc[third, ['eeg_offset_min', 'eeg_offset_max']].tolist() == [2, 6]


@pytest.mark.parametrize('change, msg', [
    (lambda d: d.iloc[:-1], r'eeg_id\(s\) \[\d+\] occur a different number of times than in test.csv \(5 rows here, 6 there\)'),
    (lambda d: d.assign(eeg_id=np.r_[d.eeg_id.iloc[3:], d.eeg_id.iloc[:3]]), r"rows are not in test.csv's order: row 1"),
    (lambda d: d.assign(eeg_id=np.r_[d.eeg_id.iloc[:1], d.eeg_id.iloc[:5]]), r'\d+\] occur a different number of times .*6 rows here, 6'),
])
def test_sample_submission_must_hold_test_rows(synth_root, tmp_path, change, msg):
    root = tmp_path / 'data'
    shutil.copytree(synth_root, root)
    _per_row(root)
    _csv(root, 'sample_submission.csv', change)
    with pytest.raises(HMSDataError, match=msg) as e: load_competition(root, check_files=False)
    assert e.value.where == str(root / 'sample_submission.csv')


def test_train_side_needs_no_test_files(synth_root, tmp_path, capsys):
    root = tmp_path / 'data'
    shutil.copytree(synth_root, root)
    for name in ['test.csv', 'sample_submission.csv']: (root / name).unlink()
    for name in ['test_eegs', 'test_spectrograms']: shutil.rmtree(root / name)
    comp = load_competition(root, test=False)
    assert comp.test is None and comp.sample_submission is None and len(comp.train)
    assert main(['check', '--data', str(root), '--split', 'train', '--deep']) == 0
    train = pd.read_csv(root / 'train.csv')
    assert capsys.readouterr().out.strip().endswith(f'{root}: {len(train)} train rows, {train.eeg_id.nunique()} train eegs: ok')
    assert main(['check', '--data', str(root)]) == 2                      # the whole folder still needs its test part
    assert 'test.csv: file not found' in capsys.readouterr().err


def test_test_side_needs_no_train_files(synth_root, tmp_path, capsys):
    root = tmp_path / 'data'
    shutil.copytree(synth_root, root)
    (root / 'train.csv').unlink()
    shutil.rmtree(root / 'train_eegs')
    assert main(['check', '--data', str(root), '--split', 'test', '--deep']) == 0
    assert capsys.readouterr().out.strip().endswith(f'{root}: {len(pd.read_csv(root / "test.csv"))} test eegs: ok')


def test_a_folder_is_named_as_a_folder(synth_root, tmp_path):
    root = tmp_path / 'data'
    shutil.copytree(synth_root, root)
    path = _first(root, 'train', 'eegs')
    _as_folder(path)
    for read in (read_eeg, parquet_file):
        with pytest.raises(HMSDataError, match='is a folder, not a parquet file') as e: read(path)
        assert e.value.where == str(path)
    with pytest.raises(HMSDataError, match=r'1 train EEG path\(s\) are folders, not parquet files'): load_competition(root)
    (tmp_path / 'x.csv').mkdir()
    with pytest.raises(HMSDataError, match='is a folder, not a csv file'): read_csv(tmp_path / 'x.csv', ['eeg_id'])


def test_infinite_samples_are_read_as_gaps(synth_root, tmp_path, capsys):
    """±inf (an overflowed sample, no value) is read as missing, like the files' NaN runs: the pipeline fills those."""
    root = tmp_path / 'data'
    shutil.copytree(synth_root, root)
    eeg, spec = _first(root, 'test', 'eegs'), _first(root, 'test', 'spectrograms')
    _rewrite(eeg, lambda d: d.assign(Fp1=np.float32(np.inf), O2=d.O2.where(d.index % 7 > 0, -np.inf)))
    _rewrite(spec, lambda d: d.assign(**{SPEC_COLUMNS[0]: d[SPEC_COLUMNS[0]].where(d.index > 2, np.inf)}))
    x, s = read_eeg(eeg), read_spectrogram(spec)
    assert x.Fp1.isna().all() and x.O2.isna().sum() == (np.arange(len(x)) % 7 == 0).sum() and np.isfinite(x.Cz).all()
    assert s[SPEC_COLUMNS[0]].isna().sum() == 3 and not np.isinf(s[SPEC_COLUMNS].to_numpy()).any()
    assert main(['check', '--data', str(root), '--deep']) == 0


def test_mlebench_layout_of_real_files(real_root, tmp_path, capsys):
    """MLE-bench's test side from real files: a 9-row eeg (its full 90 s training EEG, the 640 s spectrogram)."""
    head = pd.read_csv(real_root / 'train_head50_reconstructed.csv')
    rows = head[head.eeg_id == 1628180742]
    root = tmp_path / 'public'
    root.mkdir()
    rows[['spectrogram_id', 'eeg_id', 'patient_id']].to_csv(root / 'test.csv', index=False)
    rows[['eeg_id']].assign(**{c: 1 / 6 for c in TARGETS}).to_csv(root / 'sample_submission.csv', index=False)
    for kind, name in [('eegs', '1628180742'), ('spectrograms', '353733')]:
        (root / f'test_{kind}').mkdir()
        shutil.copy(real_root / f'train_{kind}' / f'{name}.parquet', root / f'test_{kind}' / f'{name}.parquet')
    assert main(['check', '--data', str(root), '--split', 'test', '--deep']) == 0
    assert capsys.readouterr().out.strip().endswith('9 test rows, 1 test eegs: ok')
    comp = load_competition(root, train=False)
    assert len(read_eeg(comp.eeg_path(1628180742, 'test'))) == 90 * 200
    assert len(read_spectrogram(comp.spec_path(353733, 'test'))) == 320
