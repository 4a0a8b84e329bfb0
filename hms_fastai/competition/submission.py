"""Write a validated submission.csv: TARGETS columns in order, one renormalised row per test eeg_id."""
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.atomic import atomic_path
from ..core.constants import TARGETS
from ..core.errors import HMSDataError, check_same_ids, check_unique_ids, show_ids
from .score import normalise_rows, target_frame

__all__ = ['write_submission']


def write_submission(eeg_ids, probs, path, test_ids=None) -> pd.DataFrame:
    """Check and renormalise `probs` (n, 6) for `eeg_ids`, write them atomically to `path` in `test_ids` order."""
    ids = np.asarray(eeg_ids).astype(np.int64)
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != (len(ids), len(TARGETS)):
        raise HMSDataError(path, f'probabilities have shape {p.shape}, expected ({len(ids)}, {len(TARGETS)})')
    check_unique_ids(ids, path)
    bad = ~np.isfinite(p).all(axis=1) | (p < 0).any(axis=1) | (p.sum(axis=1) <= 0)
    if bad.any(): raise HMSDataError(path, f'non-finite, negative or all-zero probabilities for eeg_id(s) {show_ids(ids[bad])}')
    df = target_frame(ids, normalise_rows(p))
    if test_ids is not None:
        want = np.asarray(test_ids).astype(np.int64)
        check_same_ids(want, ids, path, 'test.csv')
        df = df.set_index('eeg_id').loc[want].reset_index()
    with atomic_path(Path(path)) as tmp: df.to_csv(tmp, index=False)
    return df
