"""Hyper-parameter sweeps on Optuna (`hms-fastai tune`, the optional extra `tune`): trials of a search space, each a
normal run folder, pruned epoch by epoch on the validation KL; several processes, on one machine or many, share one
study through its storage (a SQLite file in the output folder, or any database URL Optuna accepts).

The same command started again resumes the study; a worker killed mid-trial leaves its trial marked failed (at once by
the next worker on its machine, else by the heartbeat's grace period) and the study goes on. Optuna is imported only
here, inside the functions: the base install never needs it.
"""
from .. import learn  # noqa: F401  (first: fastai is imported quietly there)

import os
import socket
import time
import warnings
from pathlib import Path

import pandas as pd
from fastai.callback.core import Callback
from fastai.learner import Recorder

from ..core.atomic import atomic_path, folder_lock, process_alive
from ..core.errors import HMSDataError
from ..learn.curves import TensorBoardFolds
from ..learn.launch import check_train_args, train_run
from ..learn.runs import LOGS
from .search_space import SearchSpace, read_space

__all__ = ['OBJECTIVES', 'ReportEpochs', 'study_storage', 'tune']

OBJECTIVES = {'expert': ('kl_expert', 'kl_expert'), 'all': ('kl', 'valid_loss')}   # --on → (OOF score, per-epoch figure)
_DIVERGED = 3                                          # a worker stops after this many failed trials in a row
_PICTURES = {'history.png': 'plot_optimization_history', 'intermediate.png': 'plot_intermediate_values',
             'importances.png': 'plot_param_importances'}


def _optuna():
    """The optuna module; HMSDataError saying how to install it when it is missing."""
    try: import optuna
    except ImportError: raise HMSDataError('tune', "optuna is not installed: pip install 'hms_fastai[tune]'") from None
    return optuna


class ReportEpochs(Callback):
    """Report a trial's validation KL after every epoch to Optuna (steps counted over its folds and stages); prune when told."""
    order = Recorder.order + 1

    def __init__(self, trial,                  # the optuna Trial being trained
                 monitor: str = 'kl_expert'):  # the recorded figure reported: 'kl_expert' or 'valid_loss' (KL on all rows)
        self.trial, self.monitor, self.step = trial, monitor, 0

    def __call__(self, event_name: str):
        """After each epoch, report; raise optuna.TrialPruned as it is when told to (fastai's __call__ would reword it)."""
        if event_name != 'after_epoch': return
        value = dict(zip(self.learn.recorder.metric_names[1:-1], self.learn.recorder.values[-1]))[self.monitor]
        self.step += 1
        if value != value: return                                     # NaN: e.g. no expert row validating
        self.trial.report(float(value), self.step - 1)
        if self.trial.should_prune():
            raise _optuna().TrialPruned(f'{self.monitor} {value:.4f} after epoch {self.step} of its folds')


def _check_storage(url: str):
    """HMSDataError for a database URL that cannot work: unparsable, an unknown database, a missing driver, a SQLite file in no folder."""
    import sqlalchemy
    try:
        parsed = sqlalchemy.engine.make_url(url)
        parsed.get_dialect().import_dbapi()
    except (sqlalchemy.exc.ArgumentError, ImportError) as e:
        raise HMSDataError('--storage', f'{url!r} is not a database URL Optuna can use ({type(e).__name__}: {e})') from None
    if parsed.get_backend_name() == 'sqlite':
        if parsed.database in (None, '', ':memory:'): raise HMSDataError('--storage', f'{url!r}: an in-memory database is not shared')
        folder = Path(parsed.database).parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise HMSDataError('--storage', f'{url!r}: {folder} is not a writable folder')


def study_storage(out,                         # the output folder (the default SQLite file lives there)
                  url: str | None = None,      # a database URL (None: sqlite:///out/study.db)
                  heartbeat: int = 60):        # seconds between a running trial's heartbeats
    """Optuna's RDBStorage for a study: the URL's database (created if new), trials failed when their heartbeat stops."""
    optuna = _optuna()
    url = url or f'sqlite:///{(Path(out) / "study.db").resolve()}'
    sqlite = url.startswith('sqlite')
    with warnings.catch_warnings():                                  # heartbeat_interval: experimental in optuna
        warnings.simplefilter('ignore', optuna.exceptions.ExperimentalWarning)
        try: return optuna.storages.RDBStorage(url, engine_kwargs={'connect_args': {'timeout': 60}} if sqlite else {},
                                               heartbeat_interval=heartbeat, grace_period=3 * heartbeat)
        except Exception as e:                                       # e.g. the server is unreachable, a bad password
            raise HMSDataError('--storage', f'{url!r}: {type(e).__name__}: {str(e).splitlines()[0]}') from None


def _worker() -> dict:
    """This process: its machine and id (a trial records them, so a killed worker's trial can be told apart)."""
    return {'host': socket.gethostname(), 'pid': os.getpid()}


def _fail_dead(study) -> list[int]:
    """Mark failed the running trials of workers on this machine that no longer run; their numbers."""
    optuna, me, failed = _optuna(), _worker(), []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        w = t.user_attrs.get('worker', {})
        if w.get('host') == me['host'] and w.get('pid') != me['pid'] and not process_alive(w.get('pid', 0)):
            try: study.tell(t.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
            except optuna.exceptions.UpdateFinishedTrialError: continue       # another worker marked it first
            failed.append(t.number)
    return failed


def _taken(study, below: int | None = None) -> int:
    """Trials that count towards the study's total (complete, pruned, running or waiting), of numbers below `below`."""
    S = _optuna().trial.TrialState
    trials = study.get_trials(deepcopy=False, states=(S.COMPLETE, S.PRUNED, S.RUNNING, S.WAITING))
    return sum(below is None or t.number < below for t in trials)


class _Surplus(Exception):
    """A trial started while the study already had its trials (two workers asked at once): failed, not run."""


def _pruner(pruner):
    """An optuna pruner: 'median' (from a trial's third epoch, once 5 trials finished), 'none', or one given."""
    optuna = _optuna()
    if pruner == 'median': return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)
    if pruner == 'none': return optuna.pruners.NopPruner()
    if isinstance(pruner, optuna.pruners.BasePruner): return pruner
    raise HMSDataError('pruner', f"must be 'median', 'none' or an optuna pruner, got {pruner!r}")


def _flat(record: dict) -> dict:
    """A study's record (space and objective) as one level: 'fixed.lr', 'search.epochs', 'on' → value."""
    space = record.get('space', {})
    return {**{f'{part}.{k}': v for part in ('fixed', 'search') for k, v in space.get(part, {}).items()}, 'on': record.get('on')}


def _open_study(name: str, storage, space: SearchSpace, on: str, pruner):
    """The study `name` in `storage`, created or resumed; HMSDataError when it was started with another space or objective."""
    optuna = _optuna()
    with warnings.catch_warnings():                                  # constant_liar: experimental in optuna
        warnings.simplefilter('ignore', optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(constant_liar=True)     # running trials count as bad: workers spread out
    study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True, direction='minimize', sampler=sampler,
                                pruner=_pruner(pruner))
    mine = {'space': space.record(), 'on': on}
    theirs = {k: study.user_attrs[k] for k in mine if k in study.user_attrs}
    if theirs and theirs != mine:
        a, b = _flat(mine), _flat(theirs)
        differs = sorted(k for k in {*a, *b} if a.get(k) != b.get(k))
        raise HMSDataError('--study', f'{name!r} was started with another search space or objective (it differs in '
                                      f'{", ".join(differs)}): use another --study, or the space it was started with')
    for k, v in mine.items(): study.set_user_attr(k, v)
    return study


def _save_pictures(study, out: Path) -> list[str]:
    """Optuna's matplotlib pictures of the study (history, epochs, importances) as PNGs in `out`; the ones written."""
    optuna = _optuna()
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as vis
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    written = []
    for name, plot in _PICTURES.items():
        if name == 'importances.png' and len(done) < 2: continue
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', optuna.exceptions.ExperimentalWarning)
            try: fig = getattr(vis, plot)(study).figure
            except (ValueError, RuntimeError) as e:                  # e.g. no variance to share out among the arguments
                print(f'[tune] {name} not drawn: {e}', flush=True)
                continue
        with atomic_path(out / name, suffix='.png') as tmp: fig.savefig(tmp, format='png', dpi=100, bbox_inches='tight')
        plt.close(fig)
        written.append(name)
    table = study.trials_dataframe(attrs=('number', 'state', 'value', 'duration', 'params', 'user_attrs'))
    with atomic_path(out / 'study.csv') as tmp: table.to_csv(tmp, index=False)
    return written


def _summary(study, url: str, out: Path, pictures: list[str]) -> str:
    """What the study holds now: its trials by state, the best one's figure, arguments and folder, the files written."""
    optuna = _optuna()
    states = pd.Series([t.state.name.lower() for t in study.trials]).value_counts()
    lines = [f'study {study.study_name!r} ({url}): {len(study.trials)} trials: ' + ', '.join(f'{n} {s}' for s, n in states.items())]
    if any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        best, (score, _) = study.best_trial, OBJECTIVES[study.user_attrs['on']]
        lines.append(f'best: trial {best.number}, OOF {score} {best.value:.4f} with '
                     + ', '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in best.params.items())
                     + f' → {best.user_attrs["folder"]}')
    lines.append(f'in {out}: {", ".join([*pictures, "study.csv"])}; every trial is a run folder in {out / "trials"} '
                 f'(`hms-fastai runs {out / "trials"}` tables them)')
    return '\n'.join(lines)


def tune(data,                                   # the competition folder
         cache,                                  # the signal store's folder (prepared by the first trial if needed)
         out,                                    # the study's folder: trials/NNN run folders, study.db (default), pictures
         space,                                  # a search-space TOML file (see search_space) or a SearchSpace
         study: str = 'hms',                     # the study's name in the storage: the same name resumes it
         storage: str | None = None,             # a database URL Optuna accepts (None: the SQLite file out/study.db)
         n_trials: int | None = 20,              # the study's trials in all, complete or pruned, over all its workers
         timeout: float | None = None,           # seconds after which this worker starts no new trial
         on: str = 'expert',                     # the objective: OOF KL on 'expert' rows or on 'all' rows
         pruner='median',                        # 'median', 'none', or an optuna pruner
         heartbeat: int = 60,                    # seconds between a trial's heartbeats (a silent trial fails after 3)
         log: str | None = None,                 # 'tensorboard': every trial's fits live in its folder's tensorboard/
         cbs=(),                                 # more fastai callbacks for every fit of every trial
         **fixed):                               # training arguments fixed beside the space's (e.g. folds_used=[0])
    """Run trials of `space` on `data` until the study has `n_trials` (or `timeout` passes); pictures; the optuna Study."""
    space = (space if isinstance(space, SearchSpace) else read_space(space)).with_fixed(**fixed)
    if on not in OBJECTIVES: raise HMSDataError('--on', f'must be one of {list(OBJECTIVES)}, got {on!r}')
    if log not in (None, 'tensorboard'): raise HMSDataError('--log', f"must be 'tensorboard' or None, got {log!r}")
    if n_trials is not None and n_trials < 1: raise HMSDataError('--n-trials', f'must be at least 1, got {n_trials}')
    variants = space.variants()
    for args in {(a.kind, a.arch, a.channels, a.precision, a.pretrained): a for a in variants}.values(): check_train_args(args)
    if log: TensorBoardFolds(Path(out) / LOGS)                       # tensorboard installed? (nothing written)
    _optuna()
    if storage is not None: _check_storage(storage)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out):                                           # workers starting at once: one creates the tables
        store = study_storage(out, storage, heartbeat)
        studied = _open_study(study, store, space, on, pruner)
    score, monitor = OBJECTIVES[on]
    margin = max(a.jitter for a in variants)                         # one store for every trial: the widest jitter

    def objective(trial) -> float:
        trial.set_user_attr('worker', _worker())
        if n_trials is not None and _taken(studied, below=trial.number) >= n_trials:
            raise _Surplus(f'the study had its {n_trials} trials when trial {trial.number} started: not run')
        folder = out / 'trials' / f'{trial.number:03d}'
        trial.set_user_attr('folder', str(folder))
        extra = [ReportEpochs(trial, monitor), *cbs, *([TensorBoardFolds(folder / LOGS)] if log else [])]
        return train_run(data, cache, folder, space.args(trial), margin=margin, cbs=extra).scores[score]

    start, states = time.monotonic(), []
    while True:
        for number in _fail_dead(studied): print(f'[tune] trial {number}: its worker stopped; marked failed', flush=True)
        if n_trials is not None and _taken(studied) >= n_trials: break
        if timeout is not None and time.monotonic() - start >= timeout: break
        if states[-_DIVERGED:] == ['FAIL'] * _DIVERGED:
            raise HMSDataError('--space', f'{_DIVERGED} trials in a row diverged (NaN in every epoch): narrow its lr range')
        studied.optimize(objective, n_trials=1, catch=(FloatingPointError, _Surplus),   # diverged: failed, the study goes on
                         callbacks=[lambda _, trial: states.append(trial.state.name)])
    pictures = _save_pictures(studied, out)
    print(_summary(studied, store.url, out, pictures), flush=True)
    return studied
