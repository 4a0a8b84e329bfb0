"""The competition metric: KL divergence of submitted from true vote distributions, with the grader's checks."""
import numpy as np
import pandas as pd

from ..core.constants import TARGETS
from ..core.errors import HMSDataError, check_same_ids, check_unique_ids, show_ids

__all__ = ['kaggle_score', 'score_layout', 'kl_rows', 'target_table', 'target_frame', 'normalise_rows', 'check_probabilities', 'oof_scores',
           'EPSILON']

EPSILON = 1e-15


def kl_rows(y: np.ndarray, p: np.ndarray, eps: float = EPSILON) -> np.ndarray:
    """Per-row KL(y‖p): p clipped to [eps, 1-eps] without renormalising, 0·log 0 = 0."""
    y, p = np.asarray(y, np.float64), np.clip(np.asarray(p, np.float64), eps, 1 - eps)
    with np.errstate(divide='ignore', invalid='ignore'):
        cells = np.where(y != 0, y * np.log(y / p), 0.0)
    return cells.sum(axis=1)


def target_frame(eeg_ids, values, folds=None) -> pd.DataFrame:
    """eeg_id (+ fold: one per row or one for all) + the 6 TARGETS columns of an (n, 6) array."""
    fold = {} if folds is None else {'fold': folds if np.isscalar(folds) else np.asarray(folds)}
    return pd.DataFrame({'eeg_id': np.asarray(eeg_ids), **fold, **dict(zip(TARGETS, np.asarray(values).T))})


def normalise_rows(p) -> np.ndarray:
    """Rows of an (n, 6) array of non-negative numbers divided by their sums (float64)."""
    p = np.asarray(p, np.float64)
    return p / p.sum(axis=1, keepdims=True)


def target_table(df: pd.DataFrame, name: str,
                 unique: bool = True,         # refuse repeated eeg_ids (False: per-row tables, e.g. MLE-bench's answers)
                 ) -> pd.DataFrame:
    """The eeg_id-indexed TARGETS of a table (file order), checked present, numeric and, with `unique`, one row per eeg_id."""
    missing = [c for c in ['eeg_id', *TARGETS] if c not in df.columns]
    if missing: raise HMSDataError(name, f'missing column(s) {missing}')
    if unique: check_unique_ids(df.eeg_id, name)
    v = df.set_index('eeg_id')[TARGETS]
    bad = [c for c in TARGETS if not pd.api.types.is_numeric_dtype(v[c])]
    if bad: raise HMSDataError(name, f'column(s) {bad} are not numeric')
    return v.astype(np.float64)


def check_probabilities(v: pd.DataFrame, name: str):
    """The grader's checks: finite, within [0, 1], each row sums to 1."""
    a = v.to_numpy()
    rows = v.index[~np.isfinite(a).all(axis=1)]
    if len(rows): raise HMSDataError(name, f'non-finite values for eeg_id(s) {show_ids(rows)}')
    if (a < 0).any(): raise HMSDataError(name, 'values must be at least zero')
    if (a > 1).any(): raise HMSDataError(name, 'values must be no greater than one')
    off = ~np.isclose(a.sum(axis=1), 1)
    if off.any(): raise HMSDataError(name, f'rows do not add to one for eeg_id(s) {show_ids(v.index[off])}')


def score_layout(solution: pd.DataFrame) -> str:
    """'eeg' when the solution's eeg_ids are unique (Kaggle: one row per eeg), 'row' when they repeat (MLE-bench: one per label row)."""
    return 'eeg' if 'eeg_id' not in solution or solution.eeg_id.is_unique else 'row'


def _check_same_rows(y: pd.DataFrame, p: pd.DataFrame, names: tuple):
    """MLE-bench's row checks (as many rows, the same ids) and each id as often (else rows would pair across eegs)."""
    sol_name, sub_name = names
    if len(p) != len(y): raise HMSDataError(sub_name, f'{len(p)} rows, {sol_name} has {len(y)}: one row per solution row is needed')
    check_same_ids(y.index, p.index, sub_name, sol_name)
    a, b = y.index.value_counts(), p.index.value_counts()
    off = a.index[a.to_numpy() != b.loc[a.index].to_numpy()]
    if len(off): raise HMSDataError(sub_name, f'eeg_id(s) {show_ids(sorted(off))} have a different number of rows than in {sol_name}')


def _votes(y: pd.DataFrame, sol_name) -> pd.DataFrame:
    """Solution rows (vote counts or probabilities) checked finite, non-negative and not all zero, normalised to sum 1."""
    if (y.to_numpy() < 0).any() or not np.isfinite(y.to_numpy()).all():
        raise HMSDataError(sol_name, 'votes must be finite and non-negative')
    totals = y.sum(axis=1)
    if (totals == 0).any(): raise HMSDataError(sol_name, f'eeg_id(s) {show_ids(y.index[totals == 0])} have no votes')
    return y.div(totals, axis=0)


def kaggle_score(solution: pd.DataFrame,      # eeg_id + TARGETS: vote counts or probabilities, one row per eeg or per label row
                 submission: pd.DataFrame,    # eeg_id + TARGETS probabilities, one row per solution row
                 names=('solution', 'submission'),   # the two tables' names, for errors
                 ) -> float:
    """Mean over solution rows of KL(solution‖submission), as Kaggle (unique eeg_ids) or MLE-bench (repeated ones) grades it."""
    # Unique eeg_ids: rows keyed by eeg_id, in any order. Repeated eeg_ids
    # (score_layout 'row'): the grader's checks (as many rows, the same ids, sums 1 at 5 decimals) plus each id equally
    # often; the k-th row of an eeg_id in the submission is paired with its k-th row in the solution (file order).
    # MLE-bench sorts both by eeg_id with an unstable sort and pairs by position: the same pairs whenever an eeg's rows
    # agree in either file (e.g. a submission repeating one prediction per eeg), an arbitrary pairing otherwise.
    sol_name, sub_name = names
    if score_layout(solution) == 'eeg':
        y, p = target_table(solution, sol_name), target_table(submission, sub_name)
        check_same_ids(y.index, p.index, sub_name, sol_name)
        y = _votes(y, sol_name)
        check_probabilities(p, sub_name)
        return float(kl_rows(y.to_numpy(), p.loc[y.index].to_numpy()).mean())
    y, p = target_table(solution, sol_name, unique=False), target_table(submission, sub_name, unique=False)
    _check_same_rows(y, p, names)
    y = _votes(y, sol_name)
    check_probabilities(p, sub_name)
    off = np.round(p.sum(axis=1).to_numpy(), 5) != 1
    if off.any(): raise HMSDataError(sub_name, f'rows do not add to one at 5 decimals for eeg_id(s) {show_ids(p.index[off])}')
    by_id = lambda t: t.to_numpy()[np.argsort(t.index.to_numpy(), kind='stable')]
    return float(kl_rows(by_id(y), by_id(p)).mean())


def oof_scores(table: pd.DataFrame, oof: pd.DataFrame,
               rows: pd.DataFrame | None = None,   # train.csv's label rows: adds kl_rows
               ) -> dict:
    """Kaggle score of out-of-fold predictions on all their rows and on expert rows (NaN when none); with `rows`, kl_rows too."""
    # kl_rows: each eeg's prediction on each of its label rows against the row's own votes, rows weighed equally (MLE-bench)
    truth = table.set_index('eeg_id').loc[oof['eeg_id']].reset_index()
    expert = truth['expert'].to_numpy(bool)
    scores = {'kl': kaggle_score(truth, oof),
              'kl_expert': kaggle_score(truth[expert], oof[expert]) if expert.any() else float('nan')}
    if rows is not None:
        labels = rows[rows.eeg_id.isin(oof.eeg_id)]
        preds = target_frame(labels.eeg_id, oof.set_index('eeg_id').loc[labels.eeg_id, TARGETS].to_numpy())
        scores['kl_rows'] = kaggle_score(labels[['eeg_id', *TARGETS]], preds, names=('train.csv', 'oof'))
    return scores
