"""Ensemble weights fitted on out-of-fold predictions: non-negative, summing to 1, minimising the OOF KL; checked on
held-out folds (fitted on the others), so the gain over equal weights is not an artefact of fitting."""
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import softmax

from ..core.atomic import atomic_path
from ..core.constants import TARGETS
from ..core.errors import HMSDataError, check_same_ids
from .score import EPSILON, kl_rows, normalise_rows, target_table

__all__ = ['Blend', 'check_oof', 'blend_kl', 'fit_weights', 'fit_blend', 'write_blend', 'read_blend']


@dataclass
class Blend:
    """Fitted ensemble weights (name → weight) and the OOF KLs: fitted, held out fold by fold, and with equal weights."""
    weights: dict
    on: str                    # the rows fitted and scored: 'expert' or 'all'
    kl: float                  # OOF KL of the fitted weights (fitted on these very rows: optimistic)
    kl_heldout: float          # each fold's rows scored with weights fitted on the other folds
    kl_equal: float            # OOF KL of equal weights


def check_oof(oof: pd.DataFrame, where) -> pd.DataFrame:
    """`oof` (eeg_id + TARGETS), its rows checked to be probabilities (HMSDataError naming `where`, the eeg_id and the column)."""
    v = target_table(oof, str(where))
    a = v.to_numpy()
    for bad, what in ((~np.isfinite(a), 'is not a finite number'), (a < 0, 'is negative')):
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise HMSDataError(where, f'eeg_id {v.index[i]}: {TARGETS[j]} {what} ({a[i, j]:g}): not a probability')
    zero = np.flatnonzero(a.sum(axis=1) == 0)
    if len(zero): raise HMSDataError(where, f'eeg_id {v.index[zero[0]]}: every column ({", ".join(TARGETS)}) is 0: not a distribution')
    return oof


def _stack(oofs: dict, table: pd.DataFrame, on: str) -> tuple:
    """(truth (n, 6), predictions (members, n, 6), folds (n,)) of the rows every OOF frame and `table` share."""
    if on not in ('expert', 'all'): raise ValueError(f"on must be 'expert' or 'all', got {on!r}")
    truth = target_table(table, 'table')
    frames = {n: check_oof(f, n).set_index('eeg_id') for n, f in oofs.items()}
    first = next(iter(frames))
    for n, f in frames.items(): check_same_ids(frames[first].index, f.index, n, first)
    ids = frames[first].index
    missing = sorted(set(ids) - set(truth.index))
    if missing: raise HMSDataError(first, f'{len(missing)} eeg_id(s) are not in the table, e.g. {missing[:3]}')
    rows = table.set_index('eeg_id').loc[ids]
    keep = rows['expert'].to_numpy(bool) if on == 'expert' else np.ones(len(ids), bool)
    if not keep.any(): raise HMSDataError(first, 'no expert rows to fit the weights on')
    y = normalise_rows(truth.loc[ids].to_numpy())[keep]
    p = np.stack([normalise_rows(f.loc[ids, TARGETS].to_numpy()) for f in frames.values()])[:, keep]
    return y, p, frames[first].loc[ids, 'fold'].to_numpy()[keep]


def blend_kl(y: np.ndarray, p: np.ndarray, w) -> float:
    """Mean KL of truth `y` (n, 6) from the `w`-weighted mean of predictions `p` (members, n, 6)."""
    return float(kl_rows(y, np.tensordot(np.asarray(w, float), p, 1)).mean())


def fit_weights(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to 1 (a softmax of free parameters) minimising `blend_kl`, with its exact gradient."""
    def f(theta):
        w = softmax(theta)
        q = np.clip(np.tensordot(w, p, 1), EPSILON, 1 - EPSILON)
        g = -(np.where(y > 0, y / q, 0.0)[None] * p).sum(-1).mean(-1)        # d KL / d w
        return blend_kl(y, p, w), w * (g - w @ g)                            # chain rule through the softmax
    return softmax(minimize(f, np.zeros(len(p)), jac=True, method='L-BFGS-B').x)


def fit_blend(oofs: dict, table: pd.DataFrame, on: str = 'expert') -> Blend:
    """Weights for OOF frames `oofs` (name → eeg_id, fold, TARGETS) against `table`'s votes, on expert or all rows."""
    y, p, folds = _stack(oofs, table, on)
    w = fit_weights(y, p)
    held = np.empty_like(y)
    for k in np.unique(folds):                       # fitted on the other folds, scored on this one
        test = folds == k
        held[test] = np.tensordot(fit_weights(y[~test], p[:, ~test]) if (~test).any() else w, p[:, test], 1)
    return Blend(dict(zip(oofs, w.tolist())), on, blend_kl(y, p, w), float(kl_rows(y, held).mean()),
                 blend_kl(y, p, np.full(len(p), 1 / len(p))))


def write_blend(blend: Blend, path) -> Path:
    """The blend as JSON (atomically)."""
    with atomic_path(Path(path)) as tmp: tmp.write_text(json.dumps(asdict(blend), indent=1))
    return Path(path)


def read_blend(path) -> Blend:
    """A blend written by `write_blend` (HMSDataError if the file is not one)."""
    path = Path(path)
    try: d = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HMSDataError(path, f'not a readable blend ({type(e).__name__}: {e})') from None
    if not isinstance(d, dict) or set(d) != set(Blend.__dataclass_fields__):
        raise HMSDataError(path, f'not a blend: expected the fields {list(Blend.__dataclass_fields__)}')
    w = d['weights']
    if not isinstance(w, dict) or not w:
        raise HMSDataError(path, f"'weights' must map each run folder to its weight, got {type(w).__name__} {str(w)[:60]}")
    for name, v in w.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise HMSDataError(path, f"'weights': {name!r} has {v!r}, not a finite non-negative number")
    if sum(w.values()) <= 0: raise HMSDataError(path, f"'weights' are all 0: nothing to weigh {list(w)} by")
    return Blend(**d)
