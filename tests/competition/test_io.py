"""Reading and validating competition files: every real sample file, synthetic data, and a bad-input matrix."""
import re
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hms_fastai.cli import main
from hms_fastai.competition.io import load_competition, read_eeg, read_spectrogram
from hms_fastai.core.constants import EEG_COLUMNS, SPEC_COLUMNS
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
    'duplicate test id': (lambda r: _csv(r, 'test.csv', lambda d: pd.concat([d, d.iloc[:1]])), r'test.csv: duplicate eeg_id'),
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
