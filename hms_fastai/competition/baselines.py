"""Reference predictions that need no model: uniform 1/6 and the train prior."""
import numpy as np
import pandas as pd

from ..core.constants import TARGETS

__all__ = ['uniform_probs', 'prior_probs']


def uniform_probs(n: int) -> np.ndarray:
    """1/6 for every class of `n` rows (≈1.09 on the leaderboard: nothing learned)."""
    return np.full((n, len(TARGETS)), 1 / len(TARGETS))


def prior_probs(table: pd.DataFrame, n: int) -> np.ndarray:
    """The mean vote distribution of an eeg-level table, repeated for `n` rows."""
    return np.tile(table[TARGETS].to_numpy().mean(axis=0), (n, 1))
