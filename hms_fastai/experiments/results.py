"""The results of a run: each config's outcome, its files (oof.csv, submission.csv, learners.txt), the results table."""
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..competition.score import kaggle_score, normalise_rows, oof_scores
from ..competition.submission import write_submission
from ..core.atomic import atomic_path
from ..core.constants import TARGETS

__all__ = ['Result', 'record_result', 'results_markdown', 'write_results', 'RESULT_COLUMNS']

RESULT_COLUMNS = ['config', 'model', 'cv_kl', 'cv_kl_expert', 'test_kl', 'learners', 'params', 'wall_s', 'original_lb']
_FORMATS = {'cv_kl': '{:.4f}', 'cv_kl_expert': '{:.4f}', 'test_kl': '{:.4f}', 'learners': '{:.0f}', 'params': '{:,.0f}',
            'wall_s': '{:.1f}', 'original_lb': '{:.2f}'}


@dataclass
class Result:
    """One config's outcome: OOF (eeg_id, fold, TARGETS) and test (eeg_id, TARGETS) probabilities, what it was, its cost."""
    oof: pd.DataFrame
    test: pd.DataFrame
    model: str                        # a short description of the model
    learners: int                     # learners behind each test prediction
    params: int | None                # parameters of one fold's model(s)
    wall_s: float                     # training and prediction time
    paths: list = field(default_factory=list)   # the exported learners


def record_result(folder: Path, r: Result, table: pd.DataFrame, test_ids, solution: pd.DataFrame | None) -> dict:
    """Write `folder`/oof.csv, submission.csv (and learners.txt); return the scores: cv_kl, cv_kl_expert (and test_kl)."""
    oof = r.oof.assign(**dict(zip(TARGETS, normalise_rows(r.oof[TARGETS]).T)))   # as write_submission does for the test
    with atomic_path(folder / 'oof.csv') as tmp: oof.to_csv(tmp, index=False)
    sub = write_submission(r.test['eeg_id'], r.test[TARGETS].to_numpy(), folder / 'submission.csv', test_ids)
    if r.paths:
        with atomic_path(folder / 'learners.txt') as tmp: tmp.write_text(''.join(f'{p}\n' for p in r.paths))
    scores = oof_scores(table, oof)
    row = {'cv_kl': scores['kl'], 'cv_kl_expert': scores['kl_expert']}
    return row if solution is None else {**row, 'test_kl': kaggle_score(solution, sub)}


def results_markdown(table: pd.DataFrame, notes=()) -> str:
    """The results table as a markdown table (empty cells for missing values), then `notes` as a list."""
    def cell(c, v): return '' if pd.isna(v) else _FORMATS.get(c, '{}').format(v)
    lines = ['| ' + ' | '.join(table.columns) + ' |', '|' + '|'.join('---' for _ in table.columns) + '|']
    lines += ['| ' + ' | '.join(cell(c, v) for c, v in zip(table.columns, row)) + ' |' for row in table.itertuples(index=False)]
    return '\n'.join(lines + ([''] + [f'- {n}' for n in notes] if notes else [])) + '\n'


def write_results(rows: list[dict], out_dir: Path, notes=()) -> pd.DataFrame:
    """results.csv and results.md of the rows so far, sorted by CV KL, written atomically; return the table."""
    table = pd.DataFrame(rows).reindex(columns=[c for c in RESULT_COLUMNS if any(c in r for r in rows)])
    table = table.sort_values('cv_kl', kind='stable').reset_index(drop=True)
    with atomic_path(out_dir / 'results.csv') as tmp: table.to_csv(tmp, index=False)
    with atomic_path(out_dir / 'results.md') as tmp: tmp.write_text(results_markdown(table, notes))
    return table
