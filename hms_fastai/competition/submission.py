"""Write a validated submission.csv: one renormalised row per test.csv row, eeg_id and the TARGETS columns in order."""
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.atomic import atomic_path
from ..core.constants import TARGETS
from ..core.errors import HMSDataError, check_same_ids, show_ids
from .score import normalise_rows, target_frame

__all__ = ['write_submission']


def write_submission(eeg_ids,           # one per row of probs: each eeg once (repeated on each of its test.csv rows),
                                         # or test.csv's rows in its order (per-row predictions, e.g. MLE-bench's test.csv)
                     probs,             # (n, 6) non-negative numbers, renormalised per row
                     path,              # the csv to write, atomically
                     test_ids=None,     # test.csv's eeg_id column (eeg_ids may repeat); None: the unique eeg_ids as given
                     ) -> pd.DataFrame:
    """Check and renormalise `probs`, write one row per test.csv row to `path` atomically, in test.csv's order."""
    ids = np.asarray(eeg_ids).astype(np.int64)
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != (len(ids), len(TARGETS)):
        raise HMSDataError(path, f'probabilities have shape {p.shape}, expected ({len(ids)}, {len(TARGETS)})')
    want = None if test_ids is None else np.asarray(test_ids).astype(np.int64)
    per_row = want is not None and len(ids) == len(want) and (ids == want).all()
    uniq, counts = np.unique(ids, return_counts=True)
    if not per_row and (counts > 1).any():
        raise HMSDataError(path, f"duplicate eeg_id(s) {show_ids(uniq[counts > 1])}: give one prediction per eeg, or one per "
                                 f"test.csv row in test.csv's order (with its eeg_ids as test_ids)")
    bad = ~np.isfinite(p).all(axis=1) | (p < 0).any(axis=1) | (p.sum(axis=1) <= 0)
    if bad.any(): raise HMSDataError(path, f'non-finite, negative or all-zero probabilities for eeg_id(s) {show_ids(ids[bad])}')
    df = target_frame(ids, normalise_rows(p))
    if want is not None and not per_row:                  # one prediction per eeg, repeated on each of its test.csv rows
        check_same_ids(want, ids, path, 'test.csv')
        df = df.set_index('eeg_id').loc[want].reset_index()
    with atomic_path(Path(path)) as tmp: df.to_csv(tmp, index=False)
    return df
