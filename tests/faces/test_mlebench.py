"""An agent's path on MLE-bench's layout of this competition (per-row test.csv, full-length test recordings), from the
command line: check, prepare both splits, train, predict, then MLE-bench's grader (tests/mlebench_grader.py)."""
import numpy as np
import pandas as pd
import pytest
from mlebench_grader import grade

from hms_fastai.cli import main
from hms_fastai.core.constants import TARGETS


def test_an_agents_commands_on_mlebench_layout_pass_its_grader(mle_root, tmp_path, capsys):
    data, cache, models, sub = mle_root / 'public', tmp_path / 'cache', tmp_path / 'models', tmp_path / 'submission.csv'
    test = pd.read_csv(data / 'test.csv')
    assert test.eeg_id.duplicated().any() and set(test.columns) == {'spectrogram_id', 'eeg_id', 'patient_id'}   # the shape
    assert main(['check', '--data', str(data)]) == 0
    assert capsys.readouterr().out.strip().endswith(f'{len(test)} test rows, {test.eeg_id.nunique()} test eegs: ok')
    assert main(['prepare', '--data', str(data), '--cache', str(cache), '--split', 'train']) == 0
    with pytest.warns(UserWarning, match='test.csv gives no offsets'):           # where the EEG sits is assumed, and said
        assert main(['prepare', '--data', str(data), '--cache', str(cache), '--split', 'test']) == 0
    assert main(['train', '--data', str(data), '--cache', str(cache), '--out', str(models), '--arch', 'test_efficientnet',
                 '--epochs', '1', '--epochs2', '0', '--folds', '2', '--folds-used', '0', '--bs', '4', '--targets', 'window']) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith('OOF KL (label rows):')
    with pytest.warns(UserWarning, match='test.csv gives no offsets'):
        assert main(['predict', '--data', str(data), '--cache', str(cache), '--models', str(models), '--out', str(sub)]) == 0
    assert capsys.readouterr().out.endswith(f'wrote {sub}: {len(test)} rows\n')
    written = pd.read_csv(sub)
    assert written.eeg_id.tolist() == test.eeg_id.tolist() and list(written.columns) == ['eeg_id', *TARGETS]
    assert (written.groupby('eeg_id')[TARGETS].nunique() == 1).all(axis=None)        # an eeg's rows: its one prediction
    answers = pd.read_csv(mle_root / 'private' / 'test.csv')
    kl = grade(written, answers)                                                     # MLE-bench's checks and metric
    assert np.isfinite(kl) and kl > 0
    assert main(['score', '--solution', str(mle_root / 'private' / 'test.csv'), '--submission', str(sub)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith('layout: one row per label row') and float(out[-1]) == pytest.approx(kl, abs=1e-6)
