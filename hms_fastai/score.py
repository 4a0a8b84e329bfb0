"""The competition metric: KL divergence of submitted from true vote distributions, with the grader's checks."""
import numpy as np
import pandas as pd

from .constants import TARGETS
from .errors import HMSDataError, show_ids

__all__ = ['kaggle_score', 'kl_rows', 'target_table', 'target_frame', 'check_probabilities', 'EPSILON']

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


def target_table(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """The eeg_id-indexed TARGETS of a table, checked to be present, unique and numeric."""
    missing = [c for c in ['eeg_id', *TARGETS] if c not in df.columns]
    if missing: raise HMSDataError(name, f'missing column(s) {missing}')
    dup = df.eeg_id[df.eeg_id.duplicated()]
    if len(dup): raise HMSDataError(name, f'duplicate eeg_id(s) {show_ids(sorted(set(dup)))}')
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


def kaggle_score(solution: pd.DataFrame, submission: pd.DataFrame) -> float:
    """Mean over eeg_ids of KL(solution‖submission), exactly as the competition grades it."""
    y, p = target_table(solution, 'solution'), target_table(submission, 'submission')
    if set(y.index) != set(p.index):
        missing, extra = sorted(set(y.index) - set(p.index)), sorted(set(p.index) - set(y.index))
        raise HMSDataError('submission', f'eeg_ids differ from the solution: missing {show_ids(missing)}, unexpected {show_ids(extra)}')
    if (y.to_numpy() < 0).any() or not np.isfinite(y.to_numpy()).all():
        raise HMSDataError('solution', 'votes must be finite and non-negative')
    totals = y.sum(axis=1)
    if (totals == 0).any(): raise HMSDataError('solution', f'eeg_id(s) {show_ids(y.index[totals == 0])} have no votes')
    y = y.div(totals, axis=0)
    check_probabilities(p, 'submission')
    return float(kl_rows(y.to_numpy(), p.loc[y.index].to_numpy()).mean())
