"""The hms-fastai command: subcommands, the score alone on the last line, one-line errors with exit code 2."""
import subprocess
import sys

import pandas as pd
import pytest

from hms_fastai.cli import main
from hms_fastai.core.constants import TARGETS


def test_synth_then_score_prints_score_last(tmp_path, capsys):
    assert main(['synth', '--out', str(tmp_path / 'd'), '--n-eegs', '6', '--n-test', '3', '--seed', '2']) == 0
    sol = tmp_path / 'd' / 'test_solution.csv'
    assert main(['score', '--solution', str(sol), '--submission', str(tmp_path / 'd' / 'test_oracle.csv')]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert 0 <= float(last) < 2
    assert main(['score', '--solution', str(sol), '--submission', str(sol)]) == 0
    assert float(capsys.readouterr().out.strip().splitlines()[-1]) == 0


@pytest.mark.parametrize('mutate,msg', [
    (lambda s: s.iloc[1:], 'eeg_ids differ'),
    (lambda s: s.assign(lpd_vote=float('nan')), 'non-finite'),
])
def test_score_bad_submission_exits_2_with_one_line(tmp_path, capsys, mutate, msg):
    sol = pd.DataFrame({'eeg_id': [1, 2], **{c: [1 / 6, 1 / 6] for c in TARGETS}})
    sol.to_csv(tmp_path / 'sol.csv', index=False)
    mutate(sol).to_csv(tmp_path / 'sub.csv', index=False)
    assert main(['score', '--solution', str(tmp_path / 'sol.csv'), '--submission', str(tmp_path / 'sub.csv')]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and msg in err[0] and 'submission' in err[0]


def test_console_script_exit_code_and_no_traceback(tmp_path):
    r = subprocess.run([sys.executable, '-m', 'hms_fastai.cli', 'check', '--data', str(tmp_path / 'nowhere')],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().count('\n') == 0 and 'competition folder not found' in r.stderr
    assert subprocess.run([sys.executable, '-m', 'hms_fastai.cli', 'prepare', '--help'], capture_output=True).returncode == 0
