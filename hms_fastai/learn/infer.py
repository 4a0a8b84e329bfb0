"""Offline inference: exported learners → test signal store → deterministic TTA → ensemble → submission."""
from pathlib import Path

import numpy as np
import pandas as pd
from fastai.learner import Learner

from ..competition.io import load_competition
from ..competition.meta import eeg_table
from ..competition.score import target_frame
from ..competition.submission import write_submission
from ..core.constants import TARGETS
from ..core.errors import HMSDataError
from ..signals.prepare import prepare
from ..signals.store import PARTS
from .data import dl_channels, hms_test_dl
from .exports import load_learners

__all__ = ['predict', 'submit']


def _ensemble_weights(weights, n: int) -> np.ndarray:
    """Weights of `n` learners normalised to sum 1 (equal by default); ValueError unless n non-negative numbers, not all 0."""
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f'weights must be {n} non-negative numbers, not all 0, got {weights}')
    return w / w.sum()


def _parts(learners: list[Learner]) -> tuple:
    """The store halves ('spec', 'eeg') the learners' channels need."""
    need = {c.split('_')[0] for learn in learners for c in dl_channels(learn.dls)}
    return tuple(p for p in PARTS if p in need)


def predict(models, data_root, cache_dir, tta: bool = True, weights=None, bs: int | None = None,
            trust_pickle: bool = False) -> pd.DataFrame:
    """Test-set probabilities (eeg_id + TARGETS, test.csv order): each learner with identity+flip TTA, weighted mean."""
    learners = load_learners(models, trust_pickle)
    w = _ensemble_weights(weights, len(learners))
    comp = load_competition(data_root, train=False)
    store = prepare(comp, cache_dir, 'test', parts=_parts(learners))     # only the halves the learners read
    table = eeg_table(comp.test)
    probs = 0
    for learn, wk in zip(learners, w):
        p, _ = learn.tta(dl=hms_test_dl(learn.dls, table, store, bs=bs), flip=tta)
        probs = probs + wk * p.double().numpy()
    return target_frame(table.eeg_id, probs)


def submit(models, data_root, cache_dir, out='submission.csv', tta: bool = True, weights=None,
           trust_pickle: bool = False) -> pd.DataFrame:
    """`predict`, then write a validated submission (test.csv's eeg_ids, in its order) to `out` atomically."""
    preds = predict(models, data_root, cache_dir, tta=tta, weights=weights, trust_pickle=trust_pickle)
    return write_submission(preds.eeg_id, preds[TARGETS].to_numpy(), out)
