"""Offline inference: exported learners → test signal store → deterministic TTA → ensemble → submission."""
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from fastai.learner import Learner, load_learner

from .constants import TARGETS
from .data import hms_test_dl
from .errors import HMSDataError
from .io import load_competition
from .meta import eeg_table
from .score import target_frame
from .store import prepare
from .submission import write_submission

__all__ = ['load_learners', 'predict', 'submit']


def load_learners(models) -> list[Learner]:
    """Exported learners from paths, a folder of `*.pkl`, or Learner objects (kept as they are), on GPU if there is one."""
    if isinstance(models, (str, Path)) and Path(models).is_dir():
        models = sorted(Path(models).glob('*.pkl'))
        if not models: raise HMSDataError(models, 'no exported learners (*.pkl) in this folder')
    elif isinstance(models, (str, Path, Learner)): models = [models]
    out = []
    for m in models:
        if isinstance(m, Learner): out.append(m); continue
        if not Path(m).is_file(): raise HMSDataError(m, 'exported learner not found')
        out.append(load_learner(m, cpu=not torch.cuda.is_available()))
    return out


def predict(models, data_root, cache_dir, tta: bool = True, weights=None, bs: int | None = None) -> pd.DataFrame:
    """Test-set probabilities (eeg_id + TARGETS, test.csv order): each learner with identity+flip TTA, weighted mean."""
    learners = load_learners(models)
    w = np.ones(len(learners)) if weights is None else np.asarray(weights, float)
    if len(w) != len(learners) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f'weights must be {len(learners)} non-negative numbers, not all 0, got {weights}')
    test = load_competition(data_root, train=False).test
    store = prepare(data_root, cache_dir, 'test')       # both halves: the test split is small, the index stays whole
    table = eeg_table(test)
    probs = 0
    for learn, wk in zip(learners, w / w.sum()):
        dl = hms_test_dl(learn.dls, table, store, bs=bs)
        p, _ = learn.tta(dl=dl, flip=tta)
        probs = probs + wk * p.double().numpy()
    return target_frame(table.eeg_id, probs)


def submit(models, data_root, cache_dir, out='submission.csv', tta: bool = True, weights=None) -> pd.DataFrame:
    """`predict`, then write a validated submission for test.csv's eeg_ids to `out` atomically."""
    preds = predict(models, data_root, cache_dir, tta=tta, weights=weights)
    test_ids = load_competition(data_root, train=False).test.eeg_id
    return write_submission(preds.eeg_id, preds[TARGETS].to_numpy(), out, test_ids=test_ids)
