"""A run folder is a unit: a killed run resumes (finished folds untouched), another run is refused, strays never ensembled."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from hms_fastai.core.atomic import file_hash
from hms_fastai.core.errors import HMSDataError
from hms_fastai.learn.exports import load_learners
from hms_fastai.learn.recipes import train_folds
from hms_fastai.learn.runs import MANIFEST, run_exports

TINY = dict(arch='test_efficientnet', bs=4, flip=0, mask=0, epochs=1, epochs2=0)


def _train_cmd(synth_root, cache, out) -> list[str]:
    return [sys.executable, '-m', 'hms_fastai.cli', 'train', '--data', str(synth_root), '--cache', str(cache), '--out', str(out),
            '--arch', 'test_efficientnet', '--epochs', '3', '--epochs2', '0', '--folds', '3', '--bs', '4', '--channels', 'spec']


def _temp_files(*folders) -> list:
    """Temp files and checkpoint folders under `folders` and in the system temp folder."""
    found = [p for f in folders for p in f.rglob('*') if '.tmp' in p.name]
    return found + list(Path(tempfile.gettempdir()).glob('hms_ckpt_*'))


def test_kill_9_then_the_same_command_resumes(synth_root, tmp_path):
    cache, out = tmp_path / 'cache', tmp_path / 'run'
    proc = subprocess.Popen(_train_cmd(synth_root, cache, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:           # wait until fold 0 is recorded, then kill in fold 1
        m = out / MANIFEST
        if m.exists() and '0' in json.loads(m.read_text())['done']: break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    fold0 = {p.name: (file_hash(p), p.stat().st_mtime_ns) for p in out.glob('fold0*')}
    assert len(fold0) == 5 and not (out / 'oof.csv').exists()
    r = subprocess.run(_train_cmd(synth_root, cache, out), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert {p.name: (file_hash(p), p.stat().st_mtime_ns) for p in out.glob('fold0*')} == fold0      # not retrained
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest['complete'] and sorted(manifest['done']) == ['0', '1', '2']
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(['models.json', 'oof.csv', *(f'fold{k}{x}' for k in range(3) for x in ('.pkl', '.json', '.safetensors', '_oof.csv', '_history.csv'))])
    assert len(pd.read_csv(out / 'oof.csv')) == 24 and not _temp_files(out, cache)


def test_another_run_is_refused_and_strays_are_never_ensembled(fastai_data, tmp_path):
    train, _, table = fastai_data
    out = tmp_path / 'run'
    train_folds(table, train, out, **TINY)                            # 3 folds
    with pytest.raises(HMSDataError, match='holds another run \\(it differs in .*folds'):
        train_folds(table[table.fold < 2], train, out, **TINY)        # a 2-fold run into the 3-fold run's folder
    with pytest.raises(HMSDataError, match='differs in epochs'): train_folds(table, train, out, **{**TINY, 'epochs': 2})
    (out / 'fold7.json').write_text((out / 'fold0.json').read_text())  # a stray export
    with pytest.warns(UserWarning, match='ignoring 1 file\\(s\\) not in models.json: fold7.json'):
        paths = run_exports(out)
    assert [p.name for p in paths] == ['fold0.json', 'fold1.json', 'fold2.json'] and len(load_learners(out)) == 3
    (out / 'fold1.safetensors').write_bytes(b'x')
    with pytest.raises(HMSDataError, match='files of fold 1 are missing or altered'): run_exports(out)
    (out / 'fold9.pkl').write_text('x')
    other = tmp_path / 'other'
    other.mkdir(); (other / 'fold0.pkl').write_text('x')
    with pytest.raises(HMSDataError, match='holds files of another run \\(fold0.pkl'): train_folds(table, train, other, **TINY)


def test_an_unfinished_run_is_not_predicted(fastai_data, tmp_path):
    train, _, table = fastai_data
    out = tmp_path / 'run'
    train_folds(table, train, out, **TINY)
    m = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({**m, 'complete': False}))
    with pytest.raises(HMSDataError, match='the run is not finished'): load_learners(out)
