"""A run folder is a unit: a kill at any step resumes, another run is refused, strays never ensembled, own files only."""
import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from hms_fastai.core.atomic import file_hash
from hms_fastai.core.constants import TARGETS
from hms_fastai.core.errors import HMSDataError
from hms_fastai.learn.exports import load_learners
from hms_fastai.learn.recipes import train_folds
from hms_fastai.learn.runs import MANIFEST, run_exports

TINY = dict(arch='test_efficientnet', bs=4, flip=0, mask=0, epochs=1, epochs2=0)

# A test-only harness (nothing of it is in the package): a process that imports the package once, then forks one
# `hms-fastai train` after another into the same run folder; in each child a wrapper of os.replace (how every file of
# a run is committed) SIGKILLs it right before or after it commits the named file of the run folder, so each kill
# lands at the same step every time, not when a timer happens to fire.
HARNESS = textwrap.dedent('''
    import json, os, signal, sys, traceback
    from collections import Counter
    from pathlib import Path
    import torch
    import hms_fastai.cli, hms_fastai.learn.launch        # imported before any fork: each child only trains
    from hms_fastai.core.atomic import file_hash
    torch.set_num_threads(1)                              # no thread pool is ever started before a fork

    def child(argv, out, kill):
        if kill:
            when, name = kill
            real, seen = os.replace, Counter()
            def replace(src, dst):
                here = Path(dst).parent == out and Path(dst).name == name
                if here and when == 'before': os.kill(os.getpid(), signal.SIGKILL)
                real(src, dst)
                if here: os.kill(os.getpid(), signal.SIGKILL)
            os.replace = replace
        try: code = hms_fastai.cli.main(argv)
        except BaseException: traceback.print_exc(); code = 1
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(code)

    def state(out):
        return {p.name: [file_hash(p), p.stat().st_mtime_ns] for p in sorted(out.iterdir())}

    data, cache, work, report = map(Path, sys.argv[1:5])
    kills = json.loads(sys.argv[5])
    results = []
    for out, kill in [(work / 'whole', None)] + [(work / 'killed', k) for k in kills] + [(work / 'killed', None)]:
        argv = ['train', '--data', str(data), '--cache', str(cache), '--out', str(out), '--arch', 'test_efficientnet',
                '--channels', 'spec', '--epochs', '1', '--epochs2', '0', '--folds', '2', '--bs', '6', '--seed', '0']
        pid = os.fork()
        if pid == 0: child(argv, out, kill)
        _, status = os.waitpid(pid, 0)
        results.append({'kill': kill, 'signal': os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                        'code': os.WEXITSTATUS(status) if os.WIFEXITED(status) else None, 'files': state(out)})
    report.write_text(json.dumps(results))
''')

# Each step of a fold's end (history, OOF, the exports, the manifest's record: fold 0's first steps, fold 1's exports),
# and the run's own first and last steps.
KILLS = [('after', 'models.json'),             # the manifest alone: the run's identity, no fold done
         ('after', 'fold0_history.csv'),       # issue 19's case: history (and OOF) but no record of them
         ('after', 'fold0_oof.csv'),
         ('after', 'models.json'),             # fold 0 recorded: untouched from here on
         ('after', 'fold1.pkl'),               # fold 1 half exported
         ('before', 'fold1.json'),             # its spec half-written: a dead writer's temp file
         ('after', 'oof.csv')]                 # every fold recorded, the run not yet complete


@pytest.fixture(scope='module')
def kill_chain(tmp_path_factory):
    """Every step of KILLS, each a kill of the same command resumed by the next; and the same run uninterrupted."""
    from hms_fastai.competition.synth import make_synthetic
    work = tmp_path_factory.mktemp('kills')
    data = make_synthetic(work / 'data', n_eegs=12, n_test=1, seed=1)            # 2 folds of 6 eegs: one batch each
    (work / 'harness.py').write_text(HARNESS)
    r = subprocess.run([sys.executable, str(work / 'harness.py'), str(data), str(work / 'cache'), str(work),
                        str(work / 'report.json'), json.dumps(KILLS)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return work, json.loads((work / 'report.json').read_text())


def test_a_kill_at_each_step_resumes_with_the_same_command(kill_chain):
    work, (whole, *killed, last) = kill_chain
    for step, result in zip(KILLS, killed):
        assert result['signal'] == 9, (step, result)      # each kill landed at its step: the command before it had resumed
    assert whole['code'] == 0 and last['code'] == 0, (whole, last)
    after = dict(zip(map(tuple, KILLS[:2]), (k['files'] for k in killed)))
    assert list(after[('after', 'models.json')]) == ['models.json']             # the manifest before any other file
    assert sorted(after[('after', 'fold0_history.csv')]) == ['fold0_history.csv', 'models.json']   # issue 19's case
    recorded = killed[KILLS.index(('after', 'models.json'), 1)]['files']
    fold0 = {n: h for n, h in recorded.items() if n.startswith('fold0')}
    assert len(fold0) == 5 and all(last['files'][n] == h for n, h in fold0.items())   # fold 0 untouched from then on (mtime too)
    assert [n for n in killed[KILLS.index(('before', 'fold1.json'))]['files'] if n.startswith('.fold1.json.')]   # swept later


def test_the_resumed_folder_is_the_uninterrupted_one(kill_chain):
    work, (whole, *_, last) = kill_chain
    assert sorted(last['files']) == sorted(whole['files'])                      # the same files, no temp file left
    assert not [p for p in (work / 'killed').iterdir() if p.name.startswith('.')]
    manifest = json.loads((work / 'killed' / MANIFEST).read_text())
    assert manifest['complete'] and sorted(manifest['done']) == ['0', '1']
    exports = [n for n in whole['files'] if n.endswith(('.safetensors', '.json', '_oof.csv')) and n != MANIFEST]
    assert len(exports) == 6 and all(last['files'][n][0] == whole['files'][n][0] for n in exports)   # the same bytes
    got, want = pd.read_csv(work / 'killed' / 'oof.csv'), pd.read_csv(work / 'whole' / 'oof.csv')
    assert got.eeg_id.tolist() == want.eeg_id.tolist() and len(got) == 12
    np.testing.assert_allclose(got[TARGETS].to_numpy(), want[TARGETS].to_numpy(), rtol=0, atol=1e-6)   # the same predictions


@pytest.mark.filterwarnings('ignore:.*file\\(s\\) not in models.json')       # the spoiled manifests below leave strays
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
    manifest = json.loads((out / MANIFEST).read_text())
    done = manifest['done']
    for change, wanted in [({'done': {**done, '0': {**done['0'], '../other/fold0.json': 'x'}}}, "'done' fold 0 names '../other/fold0.json'"),
                           ({'done': {**done, '1': {'/etc/passwd': 'x'}}}, "'done' fold 1 names '/etc/passwd'"),
                           ({'folds': [0, 1, 2, 3]}, "'folds' lists fold 3, but 'done' has no files of it"),
                           ({'done': {**done, '2': {'fold2_oof.csv': done['2']['fold2_oof.csv']}}}, "'done' fold 2 has no export")]:
        (out / MANIFEST).write_text(json.dumps({**manifest, **change}))
        with pytest.raises(HMSDataError, match=f'{MANIFEST}: {re.escape(wanted)}'): run_exports(out)
    (tmp_path / 'elsewhere.json').write_text('{}')
    (out / 'fold9.json').symlink_to(tmp_path / 'elsewhere.json')     # a link leaving the folder
    (out / MANIFEST).write_text(json.dumps({**manifest, 'done': {**manifest['done'], '0': {'fold9.json': file_hash(out / 'fold9.json')}}}))
    with pytest.raises(HMSDataError, match="names 'fold9.json', a link to .*elsewhere.json outside its own folder"): run_exports(out)
    (out / MANIFEST).write_text(json.dumps(manifest))
    (out / 'fold1.safetensors').write_bytes(b'x')
    with pytest.raises(HMSDataError, match='files of fold 1 are missing or altered'): run_exports(out)
    other = tmp_path / 'other'
    other.mkdir(); (other / 'fold0.pkl').write_text('x')
    with pytest.raises(HMSDataError, match='holds files of another run \\(fold0.pkl'): train_folds(table, train, other, **TINY)


def test_an_unfinished_run_is_not_predicted(fastai_data, tmp_path):
    train, _, table = fastai_data
    out = tmp_path / 'run'
    train_folds(table, train, out, **{**TINY, 'folds_used': [0]})
    m = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({**m, 'complete': False}))
    with pytest.raises(HMSDataError, match='the run is not finished'): load_learners(out)
