"""Offline inference: exported learners → test signal store → deterministic TTA → ensemble → submission."""
from pathlib import Path

import numpy as np
import pandas as pd
from fastai.learner import Learner
from fastcore.meta import delegates

from ..competition.blend import read_blend
from ..competition.io import OFFSET_COLUMNS, load_competition
from ..competition.score import target_frame
from ..competition.submission import write_submission
from ..core.constants import DEFAULT_TEST_WINDOWS, PARTS, TARGETS, TEST_WINDOWS
from ..core.errors import HMSDataError
from ..core.train_args import TrainArgs
from ..signals.prepare import prepare
from .data import dl_parts, hms_test_dl
from .device import check_cuda, choose_precision, oom_as_error
from .exports import load_learners

__all__ = ['predict', 'submit']


def _groups(models, trust_pickle: bool, precision: str) -> list[list[Learner]]:
    """The learners of `models`, in groups: a run folder's folds, or one export file or Learner each."""
    if isinstance(models, (str, Path, Learner)): models = [models]
    return [load_learners(m, trust_pickle, precision) for m in models]


def _blend_weights(path, models) -> list[float]:
    """A fitted blend's weight for each run folder of `models` (matched by path, else by folder name)."""
    blend = read_blend(path)
    by = {Path(k).resolve(): w for k, w in blend.weights.items()} | {Path(k).name: w for k, w in blend.weights.items()}
    models = [models] if isinstance(models, (str, Path)) else list(models)
    missing = [str(m) for m in models if Path(m).resolve() not in by and Path(m).name not in by]
    if missing or len(models) != len(blend.weights):
        raise HMSDataError(path, f'its weights are for {list(blend.weights)}, not the models {[str(m) for m in models]}')
    return [by.get(Path(m).resolve(), by.get(Path(m).name)) for m in models]


def _ensemble_weights(weights, groups: list[list]) -> np.ndarray:
    """One weight per learner, summing to 1: equal by default; per learner, or per group spread over its learners."""
    sizes = np.array([len(g) for g in groups])
    w = np.ones(sizes.sum()) if weights is None else np.asarray(weights, float)
    if w.shape == (len(groups),) and len(groups) != sizes.sum(): w = np.repeat(w / sizes, sizes)
    if w.shape != (sizes.sum(),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        per_run = f' or {len(groups)} (one per run)' if len(groups) != sizes.sum() else ''
        raise ValueError(f'weights must be {sizes.sum()} non-negative numbers (one per learner){per_run}, not all 0, got {weights}')
    return w / w.sum()


def _test_items(test: pd.DataFrame, store, test_windows: str) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The test split's items in test.csv's eeg order (eeg_id, window), and each row's window when test.csv gives offsets."""
    # window: the stored window (its number, also the item's index), or -1 for the eeg's centre (read from the stored mels)
    given, eegs = all(c in test for c in OFFSET_COLUMNS), pd.Index(test.eeg_id.unique())
    if test_windows == 'centre' and not given: return pd.DataFrame({'eeg_id': eegs, 'window': -1}), None
    windows = store.window_table()                # the rows' own windows, or 'all': 50 s windows every TEST_STRIDE s
    items = windows.assign(window=np.where(windows.centre, -1, windows.window))[['eeg_id', 'window']]
    items = items.iloc[np.argsort(eegs.get_indexer(items.eeg_id), kind='stable')]
    return items, store.locate(test) if given else None


def _item_probs(learn: Learner, items: pd.DataFrame, store, tta: bool, bs: int | None) -> np.ndarray:
    """A learner's (TTA) probabilities of each item: centre items (the stored mels) and named windows in separate batches."""
    probs = np.zeros((len(items), len(TARGETS)))
    for centre in (True, False):
        pick = (items.window.to_numpy() < 0) == centre
        if not pick.any(): continue
        dl = hms_test_dl(learn.dls, items[pick], store, bs=bs)
        with oom_as_error(dl.bs, 'prediction'): probs[pick] = learn.tta(dl=dl, flip=tta)[0].double().numpy()
    return probs


def predict(models,                       # a run folder, an export, a Learner or a list of them
            data_root, cache_dir, tta: bool = True,
            weights=None,                 # one per learner, one per run (folder), or a blend file (hms-fastai blend)
            bs: int | None = None,        # inference batch size (None: each learner's validation batch size)
            trust_pickle: bool = False,   # load .pkl exports (unpickling runs their code)
            precision: str = TrainArgs.precision,
            test_windows: str = DEFAULT_TEST_WINDOWS,  # no offsets in test.csv: 'all' (mean over 50 s windows every 10 s), 'centre'
            ) -> pd.DataFrame:
    """Test-set probabilities (eeg_id + TARGETS): per test.csv row when it gives offsets, else per eeg (test.csv order)."""
    # A row with offsets is predicted from its own window. Without offsets, every row of an eeg gets the eeg's prediction:
    # from the middle 50 s of its EEG ('centre'), or the mean over its 50 s windows every TEST_STRIDE s ('all'); Kaggle's
    # 50 s test EEGs have one window, so both give the same. Each learner: identity+flip TTA; the learners: weighted mean.
    if isinstance(weights, (str, Path)): weights = _blend_weights(weights, models)   # a bad blend file: refused before loading
    if test_windows not in TEST_WINDOWS:
        raise HMSDataError('test_windows', f'must be one of {list(TEST_WINDOWS)}, got {test_windows!r}')
    choose_precision(precision, check_cuda())
    groups = _groups(models, trust_pickle, precision)
    learners = [learn for g in groups for learn in g]
    w = _ensemble_weights(weights, groups)
    comp = load_competition(data_root, train=False)
    parts = tuple(p for p in PARTS if p in set().union(*(dl_parts(learn.dls) for learn in learners)))
    store = prepare(comp, cache_dir, 'test', parts=parts)               # only the halves the learners read
    items, row_window = _test_items(comp.test, store, test_windows)
    probs = sum(wk * _item_probs(learn, items, store, tta, bs) for learn, wk in zip(learners, w))
    if row_window is not None:                                    # one prediction per test.csv row, from its own window
        return target_frame(comp.test.eeg_id, pd.DataFrame(probs, index=items.index).loc[row_window].to_numpy())
    per_eeg = target_frame(items.eeg_id, probs).groupby('eeg_id', sort=False)[TARGETS].mean()     # test.csv's eeg order
    return target_frame(per_eeg.index, per_eeg.to_numpy())


@delegates(predict)
def submit(models, data_root, cache_dir, out='submission.csv', **kwargs) -> pd.DataFrame:
    """`predict`, then write a validated submission (one row per test.csv row, in its order) to `out` atomically."""
    preds = predict(models, data_root, cache_dir, **kwargs)
    test = load_competition(data_root, train=False, check_files=False).test
    return write_submission(preds.eeg_id, preds[TARGETS].to_numpy(), out, test_ids=test.eeg_id)
