"""tune: search-space files held to the schema, pruning on the reported epoch KL, workers sharing one SQLite study (a killed
one's trial failed, the rest resumed, none lost or repeated), and the base install working without optuna."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from fastai.callback.core import Callback

from hms_fastai.cli import main
from hms_fastai.competition.io import load_competition
from hms_fastai.competition.meta import fold_table
from hms_fastai.competition.score import kl_rows
from hms_fastai.core.constants import TARGETS
from hms_fastai.core.errors import HMSDataError
from hms_fastai.core.train_args import TrainArgs
from hms_fastai.experiments.search_space import SearchSpace, Searched, read_space

pytestmark = pytest.mark.usefixtures('one_thread')   # tiny models on one torch thread

SPACE = '''[fixed]
arch = "test_efficientnet"
epochs2 = 0
bs = 8
flip = 0
mask = 0

[search]
lr = {low = 1e-3, high = 1e-2, log = true}
epochs = {low = 2, high = 3}
'''
TUNE = ['--folds', '2', '--folds-used', '0']


def _space(tmp_path: Path, text: str = SPACE, name: str = 'space.toml') -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path / name


@pytest.mark.parametrize('search,message', [
    ('lrr = {low = 1e-3, high = 1e-2}', "[search] 'lrr' is not a training argument"),
    ('lr = {low = 1e-2, high = 1e-3}', '[search] lr: low 0.01 must be below high 0.001'),
    ('lr = {low = 1e-3, high = 2}', r'[search] lr: must be in (0, 1], got 2'),
    ('epochs = {low = 0, high = 4}', '[search] epochs: must be at least 1, got 0'),
    ('epochs = {low = 1.5, high = 4}', '[search] epochs: expected int, got 1.5'),
    ('mixup = {low = 0, high = 1, log = true}', '[search] mixup: a log range needs low above 0'),
    ('lr = {low = 1e-3, high = 1e-2, log = true, step = 1e-3}', '[search] lr: a range takes log or step, not both'),
    ('lr = {low = 1e-3, high = 1e-2, top = 1}', "[search] lr: unknown key(s) ['top']"),
    ('windows = {low = 0, high = 1}', '[search] windows: not a number, so it takes a list of choices'),
    ('windows = ["centre", "middle"]', "[search] windows: must be one of ['centre', 'random'], got 'middle'"),
    ('channels = ["spec", "spec_XX"]', "[search] channels: unknown channel(s) ['spec_XX']"),
    ('arch = ["resnet18d"]', '[search] arch: give at least two choices'),
    ('folds_used = [[0], [1]]', '[search] folds_used: every trial is scored on the same folds'),
    ('seed = [0, 1]', '[search] seed: every trial is scored on the same folds'),
    ('arch = ["x", "y"]\n[other]\na = 1', "unknown table(s) ['other']"),
    ('', '[search] names no argument: nothing to tune'),
])
def test_a_bad_space_is_refused_with_one_line_naming_the_file(tmp_path, search, message):
    path = _space(tmp_path, f'[fixed]\nepochs2 = 0\n[search]\n{search}\n')
    with pytest.raises(HMSDataError) as e: read_space(path)
    assert str(e.value).startswith(f'{path}: ') and message in str(e.value) and '\n' not in str(e.value)


def test_fixed_values_are_checked_alone_and_together(tmp_path):
    for fixed, message in [('bs = 1', '[fixed] bs: must be at least 2'), ('folds = 2\nfolds_used = [2]', '[fixed] folds_used'),
                           ('lrr = 1', "[fixed] 'lrr' is not a training argument"), ('lr = 1e-3', 'lr is both fixed and searched')]:
        with pytest.raises(HMSDataError, match=message.replace('[', r'\[').replace(']', r'\]')):
            read_space(_space(tmp_path, f'[fixed]\n{fixed}\n[search]\nlr = {{low = 1e-3, high = 1e-2}}\n'))
    with pytest.raises(HMSDataError, match=r'not TOML'): read_space(_space(tmp_path, '[fixed\n'))
    with pytest.raises(HMSDataError, match=r"\['folds_used'\] fixed here but searched"):
        SearchSpace({}, {'folds_used': Searched('folds_used', choices=(0, 1))}).with_fixed(folds_used=[0])


class _Trial:
    """An optuna trial stand-in that suggests each range's low end and each list's last choice."""

    def suggest_float(self, name, low, high, step=None, log=False): return low
    def suggest_int(self, name, low, high, step=1, log=False): return low
    def suggest_categorical(self, name, choices): return choices[-1]


def test_a_trial_gets_training_arguments_of_the_schema(tmp_path):
    space = read_space(_space(tmp_path, SPACE + 'channels = ["all", "spec"]\n')).with_fixed(folds=2, folds_used=[0])
    assert space.args(_Trial()) == TrainArgs(arch='test_efficientnet', epochs2=0, bs=8, flip=0, mask=0, folds=2, folds_used=(0,),
                                             lr=1e-3, epochs=2, channels='spec')
    assert len(space.variants()) == 2 * 2 * 2 and {v.channels for v in space.variants()} == {None, TrainArgs(channels='spec').channels}
    assert json.loads(json.dumps(space.record())) == space.record()
    assert space.record()['search']['lr'] == {'low': 1e-3, 'high': 1e-2, 'log': True, 'step': None}


def test_the_base_install_runs_without_optuna(tmp_path, synth_root):
    space = _space(tmp_path)
    code = ('import sys; sys.modules["optuna"] = None\n'
            'import hms_fastai.cli\n'
            'from hms_fastai.all import *\n'
            'from hms_fastai.cli import main\n'
            'try: main(["--help"])\n'
            'except SystemExit: pass\n'
            f'rc = main(["tune", "--data", {str(synth_root)!r}, "--cache", {str(tmp_path / "c")!r}, "--out", '
            f'{str(tmp_path / "o")!r}, "--space", {str(space)!r}])\n'
            'print("rc", rc, "optuna" in sys.modules and sys.modules["optuna"] is not None)')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.stdout.splitlines()[-1] == 'rc 2 False', r.stdout + r.stderr
    assert r.stderr.strip().splitlines()[-1] == "hms-fastai tune: error: tune: optuna is not installed: pip install 'hms_fastai[tune]'"
    assert not (tmp_path / 'o').exists()


class SpoilHead(Callback):
    """Every validation prediction made logit 100 for seizure and 0 elsewhere, whatever the input."""

    def after_pred(self):
        if not self.training: self.learn.pred = torch.zeros_like(self.pred) + torch.tensor([100., 0, 0, 0, 0, 0])


def test_a_spoiled_trial_is_pruned_before_its_last_epoch(synth_root, tmp_path):
    optuna = pytest.importorskip('optuna')
    from hms_fastai.experiments.tune import tune
    space = _space(tmp_path, SPACE.replace('epochs = {low = 2, high = 3}', 'epochs = {low = 3, high = 4}'))
    study = tune(synth_root, tmp_path / 'cache', tmp_path / 'out', space, n_trials=1, folds=2, folds_used=[0], cbs=[SpoilHead()],
                 pruner=optuna.pruners.ThresholdPruner(upper=5.0))
    trial = study.trials[0]
    table = fold_table(load_competition(synth_root), 2, 0)
    valid = table[(table.fold == 0) & table.expert]
    y = valid[TARGETS].to_numpy() / valid[TARGETS].to_numpy().sum(1, keepdims=True)
    spoiled = kl_rows(y, np.tile(np.eye(6)[0], (len(y), 1))).mean()           # all seizure: what the pruner was shown
    assert trial.state == optuna.trial.TrialState.PRUNED and trial.params['epochs'] >= 3
    assert list(trial.intermediate_values) == [0] and trial.intermediate_values[0] == pytest.approx(spoiled, rel=1e-6) and spoiled > 5
    assert not (Path(trial.user_attrs['folder']) / 'fold0_oof.csv').exists()               # no fold finished
    assert (tmp_path / 'out' / 'study.csv').is_file() and (tmp_path / 'out' / 'history.png').is_file()


class NaNPredictions(Callback):
    """Every prediction NaN, as after a diverged step."""

    def after_pred(self): self.learn.pred = self.pred * float('nan')


def test_a_worker_whose_trials_all_diverge_stops_in_one_line(synth_root, tmp_path):
    optuna = pytest.importorskip('optuna')
    from hms_fastai.experiments.tune import tune
    space = _space(tmp_path, SPACE.replace('epochs = {low = 2, high = 3}', 'epochs = {low = 1, high = 2}'))
    with pytest.raises(HMSDataError, match=r'3 trials in a row diverged \(NaN in every epoch\): narrow its lr range'):
        tune(synth_root, tmp_path / 'cache', tmp_path / 'out', space, n_trials=5, folds=2, folds_used=[0], cbs=[NaNPredictions()])
    trials = optuna.load_study(study_name='hms', storage=f'sqlite:///{tmp_path / "out" / "study.db"}').trials
    assert [t.state.name for t in trials] == ['FAIL'] * 3


def test_trials_taken_and_a_dead_local_workers_trial(tmp_path):
    optuna = pytest.importorskip('optuna')
    from hms_fastai.experiments.tune import _fail_dead, _taken
    S = optuna.trial.TrialState
    study = optuna.create_study()
    done, pruned, running, mine, failed = (study.ask() for _ in range(5))
    study.tell(done, 1.0), study.tell(pruned, state=S.PRUNED), study.tell(failed, state=S.FAIL)
    assert _taken(study) == 4 and _taken(study, below=mine.number) == 3      # `mine`, asked as the 4th of a 3-trial study: surplus
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    here = socket.gethostname()
    running.set_user_attr('worker', {'host': here, 'pid': dead.pid})
    mine.set_user_attr('worker', {'host': here, 'pid': os.getpid()})
    elsewhere = study.ask()
    elsewhere.set_user_attr('worker', {'host': here + '-other', 'pid': dead.pid})
    assert _fail_dead(study) == [running.number]
    assert [t.state for t in study.trials] == [S.COMPLETE, S.PRUNED, S.FAIL, S.RUNNING, S.FAIL, S.RUNNING]


def _running_trial(db: Path, deadline: float):
    """The first running trial in the study file that has named its folder (None when the deadline passes first)."""
    import optuna
    while time.monotonic() < deadline:
        if db.exists():
            try: trials = optuna.load_study(study_name='hms', storage=f'sqlite:///{db}').trials
            except Exception: trials = []                     # not created yet, or locked a moment
            running = [t for t in trials if t.state.name == 'RUNNING' and 'folder' in t.user_attrs]
            if running: return running[0]
        time.sleep(0.2)
    return None


def test_two_workers_resume_a_killed_workers_study_without_losing_or_repeating_a_trial(synth_root, tmp_path, capsys):
    optuna = pytest.importorskip('optuna')
    space = _space(tmp_path, SPACE.replace('epochs = {low = 2, high = 3}', 'epochs = {low = 1, high = 2}'))
    out = tmp_path / 'out'
    command = [sys.executable, '-m', 'hms_fastai.cli', 'tune', '--data', str(synth_root), '--cache', str(tmp_path / 'cache'),
               '--out', str(out), '--space', str(space), '--n-trials', '3', *TUNE]
    env = os.environ | {'OMP_NUM_THREADS': '1'}
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try: killed = _running_trial(out / 'study.db', time.monotonic() + 300)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert killed is not None and killed.user_attrs['worker']['pid'] == first.pid
    workers = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    logs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], logs
    assert any(f'trial {killed.number}: its worker stopped; marked failed' in log for log in logs), logs
    trials = optuna.load_study(study_name='hms', storage=f'sqlite:///{out / "study.db"}').trials
    finished = [t for t in trials if t.state.name in ('COMPLETE', 'PRUNED')]
    trained = [t for t in trials if 'folder' in t.user_attrs]          # a surplus trial (two workers asking at once) has none
    assert len(finished) == 3 and [t.number for t in trained if t not in finished] == [killed.number]
    assert trials[killed.number].state.name == 'FAIL' and {t.state.name for t in trials if t not in trained} <= {'FAIL'}
    assert len({t.user_attrs['folder'] for t in trained}) == len(trained) == 4          # a folder per trial, none shared
    ran_by = {t.user_attrs['worker']['pid'] for t in finished}
    assert ran_by <= {w.pid for w in workers}
    for t in finished:
        m = json.loads((Path(t.user_attrs['folder']) / 'models.json').read_text())
        assert {k: m['run'][k] for k in t.params} == t.params and m['run']['folds_used'] == [0] and m['run']['folds'] == 2
        if t.state.name == 'COMPLETE': assert m['complete'] and m['scores']['kl_expert'] == pytest.approx(t.value, rel=1e-12)
    capsys.readouterr()
    assert main(command[3:]) == 0                                    # the same command again: nothing left to do
    assert "study 'hms'" in capsys.readouterr().out
    assert len(optuna.load_study(study_name='hms', storage=f'sqlite:///{out / "study.db"}').trials) == len(trials)


def test_a_study_resumes_only_with_its_own_space(synth_root, tmp_path):
    pytest.importorskip('optuna')
    from hms_fastai.experiments.tune import _open_study, study_storage
    store = study_storage(tmp_path)
    space = read_space(_space(tmp_path))
    _open_study('s', store, space, 'expert', 'median')
    assert _open_study('s', store, space, 'expert', 'none').user_attrs['on'] == 'expert'        # the pruner is each worker's
    wider = read_space(_space(tmp_path, SPACE.replace('high = 1e-2', 'high = 2e-2'), 'wider.toml'))
    with pytest.raises(HMSDataError, match=r"'s' was started with another search space or objective \(it differs in search.lr\)"):
        _open_study('s', store, wider, 'expert', 'median')
    with pytest.raises(HMSDataError, match=r'differs in on\)'): _open_study('s', store, space, 'all', 'median')
