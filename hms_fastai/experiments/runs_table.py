"""The runs table (`hms-fastai runs`): every run folder under some folders (train, experiments, tune trials) in one table —
the arguments that differ between them, CV KL, test KL, cost, the package and git revision they were trained with —
read from each run's own files, and their fold learning curves side by side."""
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from ..competition.io import read_csv
from ..competition.score import kaggle_score
from ..core.constants import TARGETS
from ..core.errors import HMSDataError
from ..core.train_args import TrainArgs
from ..learn.curves import plot_histories
from ..learn.runs import MANIFEST, read_manifest
from .results import results_markdown

__all__ = ['RUN_COLUMNS', 'find_runs', 'runs_table', 'runs_text', 'plot_runs']

RUN_COLUMNS = ['run', 'state', 'cv_kl', 'cv_kl_expert', 'test_kl', 'learners', 'params', 'wall_s', 'package', 'git']
_DEFAULTS = TrainArgs().record()


def find_runs(folders) -> dict:
    """Name → folder of every run folder (one holding models.json) at or below `folders`; HMSDataError for one holding none."""
    folders, found = [Path(f) for f in folders], {}
    for top in folders:
        if not top.is_dir(): raise HMSDataError(top, 'no such folder')
        runs = sorted(p.parent for p in top.rglob(MANIFEST))
        if not runs: raise HMSDataError(top, f'holds no run folder (no {MANIFEST} at or below it)')
        for run in runs:
            rel = run.relative_to(top).as_posix()
            name = top.name if rel == '.' else rel if len(folders) == 1 else f'{top.name}/{rel}'
            found[str(run) if name in found else name] = run
    return found


def _shown(v):
    """An argument's value as a table cell: lists joined by commas, None empty."""
    return ','.join(map(str, v)) if isinstance(v, list) else '' if v is None else v


def _row(name: str, folder: Path, m: dict, solution: pd.DataFrame | None) -> dict:
    """One run's figures, each read from its folder: manifest scores, fold seconds, parameters, its submission's test KL."""
    scores, seconds, sub = m.get('scores') or {}, m.get('seconds') or {}, folder / 'submission.csv'
    test = (kaggle_score(solution, read_csv(sub, ['eeg_id', *TARGETS]), names=('--solution', sub))
            if solution is not None and sub.is_file() else None)
    git = m.get('git') or ''
    return {'run': name, 'state': 'complete' if m['complete'] else f'{len(m["done"])}/{len(m["folds"])} folds',
            'cv_kl': scores.get('kl'), 'cv_kl_expert': scores.get('kl_expert'), 'test_kl': test, 'learners': len(m['done']),
            'params': m.get('params'), 'wall_s': sum(seconds.values()) if seconds else None, 'package': m.get('package'),
            'git': git[:12] + ('+dirty' if git.endswith('+dirty') else '')}


def _differing(records: list[dict]) -> list[str]:
    """The arguments whose values differ between runs (one run: those that differ from the schema's defaults)."""
    names = list(dict.fromkeys(k for r in records for k in r))
    if len(records) == 1: return [k for k in names if k in _DEFAULTS and records[0][k] != _DEFAULTS[k]]
    return [k for k in names if len({repr(r.get(k)) for r in records}) > 1]


def _sort_key(c: pd.Series) -> pd.Series:
    """A column as it sorts: numbers as numbers when every filled cell is one, else as text (empty cells last)."""
    empty = c.isna() | c.isin([''])
    number = pd.to_numeric(c.where(~empty), errors='coerce')
    return number if (number.notna() | empty).all() else c.astype(str).where(~empty)


def runs_table(folders,                       # folders holding run folders (at any depth), or run folders themselves
               solution=None,                 # test_solution.csv: a test KL for runs whose folder holds a submission.csv
               sort: str = 'cv_kl') -> pd.DataFrame:   # the column to sort by (lower first; empty cells last)
    """One row per run folder: the differing arguments, state, CV KL (all, expert), test KL, learners, params, wall time, version."""
    runs = find_runs(folders)
    manifests = {name: read_manifest(folder) for name, folder in runs.items()}
    sol = read_csv(solution, ['eeg_id', *TARGETS]) if solution is not None else None
    rows = [_row(name, runs[name], m, sol) for name, m in manifests.items()]
    records = [m['run'] for m in manifests.values()]
    args = _differing(records)
    table = pd.DataFrame([{'run': r['run'], **{k: _shown(rec.get(k)) for k in args}, **{c: r[c] for c in RUN_COLUMNS[1:]}}
                          for r, rec in zip(rows, records)])
    table = table.astype({'params': 'Int64', **{c: float for c in ('cv_kl', 'cv_kl_expert', 'test_kl', 'wall_s')}})   # missing: NA
    if sort not in table.columns: raise HMSDataError('--sort', f'no column {sort!r}; columns: {", ".join(table.columns)}')
    return table.sort_values(sort, kind='stable', na_position='last', key=_sort_key).reset_index(drop=True)


def runs_text(table: pd.DataFrame, fmt: str = 'markdown') -> str:
    """The runs table as Markdown (numbers rounded for reading) or CSV (as read)."""
    if fmt == 'csv': return table.to_csv(index=False)
    if fmt != 'markdown': raise HMSDataError('--format', f"must be 'markdown' or 'csv', got {fmt!r}")
    shown = table.copy()
    for c in shown.columns[1:shown.columns.get_loc('state')]:       # argument columns: 4 significant digits
        shown[c] = shown[c].map(lambda v: f'{v:.4g}' if isinstance(v, float) else v)
    return results_markdown(shown)


def plot_runs(folders,                        # as for runs_table
              path=None) -> Figure:           # write the figure to this PNG (atomically)
    """The fold learning curves (fold{k}_history.csv) of every run folder under `folders`, a panel per fold, a row per run."""
    histories, ncols = {}, 1
    for name, folder in find_runs(folders).items():
        m = read_manifest(folder)
        files = {k: folder / f'fold{k}_history.csv' for k in m['folds'] if f'fold{k}_history.csv' in m['done'].get(str(k), {})}
        histories |= {f'{name} fold {k}': pd.read_csv(f) for k, f in files.items()}
        ncols = max(ncols, len(files))
    if not histories: raise HMSDataError('--plot', 'the runs hold no finished fold with a history (fold{k}_history.csv)')
    return plot_histories(histories, path, ncols=ncols)
