"""The tabular system: Kaggle-spectrogram summary features (region × band × window) and a tabular model on them."""
from .. import learn as _quiet_fastai  # noqa: F401  (first: fastai is imported quietly there)

import warnings

import numpy as np
import pandas as pd
from fastai.callback.hook import total_params
from fastai.data.block import RegressionBlock
from fastai.data.transforms import ColSplitter
from fastai.learner import Learner
from fastai.tabular.core import Normalize, TabularPandas
from fastai.tabular.learner import tabular_learner
from fastai.torch_core import set_seed

from ..competition.score import target_frame
from ..core.constants import HALVES, REGIONS, SPEC_COLUMNS, SPEC_FREQS, SPEC_WINDOW, TARGETS
from ..core.train_args import SEED
from ..learn.learner import readable_progress
from ..learn.metrics import KLDivLossFlat, kl_metrics
from ..learn.recipes import fit_best
from ..signals.image import spec_log

__all__ = ['FEATURE_WINDOWS', 'spec_feature_names', 'window_features', 'store_crops', 'spec_features', 'tabular_fold',
           'catboost_fold', 'tabular_cv']

FEATURE_WINDOWS = {'10m': slice(0, SPEC_WINDOW), '20s': slice(145, 155)}   # the starter's windows: whole crop, central 20 s
_STATS = {'mean': np.nanmean, 'min': np.nanmin}   # per window, over time
_BATCH = 256                      # crops summarised at once (256 × 300 × 400 float32 ≈ 120 MB)


def _bands(bands: int) -> int:
    """Bins per band: `bands` must divide the 100 frequency bins."""
    if bands < 1 or len(SPEC_FREQS) % bands: raise ValueError(f'bands must divide {len(SPEC_FREQS)}, got {bands}')
    return len(SPEC_FREQS) // bands


def spec_feature_names(bands: int = 10) -> list[str]:
    """Names of the features, e.g. 'LL_0.59-2.34Hz_mean_10m' (per bin when bands=100: 'LL_0.59Hz_mean_10m')."""
    w = _bands(bands)
    freqs = [SPEC_FREQS[i] if w == 1 else f'{SPEC_FREQS[i]}-{SPEC_FREQS[i + w - 1]}' for i in range(0, len(SPEC_FREQS), w)]
    return [f'{r}_{f}Hz_{s}_{win}' for r in REGIONS for f in freqs for win in FEATURE_WINDOWS for s in _STATS]


def window_features(crops: np.ndarray, bands: int = 10) -> np.ndarray:
    """(n, 300, 400) raw spectrogram crops → (n, F): log clipped power, averaged per band, then mean/min per window."""
    crops = np.asarray(crops, np.float32)
    if crops.ndim != 3 or crops.shape[1:] != (SPEC_WINDOW, len(SPEC_COLUMNS)):
        raise ValueError(f'crops must be (n, {SPEC_WINDOW}, {len(SPEC_COLUMNS)}), got {crops.shape}')
    x = spec_log(crops).reshape(len(crops), SPEC_WINDOW, len(REGIONS), bands, _bands(bands))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)          # all-NaN slices give NaN, filled at training time
        b = np.nanmean(x, axis=-1)                                # (n, time, region, band)
        stats = [f(b[:, w], axis=1) for w in FEATURE_WINDOWS.values() for f in _STATS.values()]
    return np.stack(stats, axis=-1).reshape(len(crops), -1)


def store_crops(store, eeg_ids) -> np.ndarray:
    """(n, 300, 400) raw Kaggle-spectrogram crops of `eeg_ids`' centre windows from `store`, one gather (NaN past a file's end)."""
    if not len(eeg_ids): return np.empty((0, SPEC_WINDOW, len(SPEC_COLUMNS)), np.float32)
    return store.with_channels(HALVES['spec']).raw(store.rows(eeg_ids))['spec'].cpu().numpy()


def spec_features(store, bands: int = 10) -> pd.DataFrame:
    """eeg_id + the summary features of every row of a store with the 'spec' part (train or test)."""
    if 'spec' not in store.parts: raise ValueError(f'{store} has no spectrogram part: prepare it with parts including spec')
    ids = store.table['eeg_id'].to_numpy()
    feats = [window_features(store_crops(store, ids[i:i + _BATCH]), bands) for i in range(0, len(ids), _BATCH)]
    out = pd.DataFrame(np.concatenate(feats) if feats else np.empty((0, len(spec_feature_names(bands)))), columns=spec_feature_names(bands))
    out.insert(0, 'eeg_id', ids)
    return out


def tabular_fold(data: pd.DataFrame, features: list[str], fold: int, layers=(200, 100), epochs: int = 30,
                 lr: float = 1e-2, bs: int = 64, seed: int | None = None, cbs=()) -> Learner:
    """fastai tabular_learner on normalised `features` of `data` (fold, expert, TARGETS): KL, one-cycle, best epoch kept."""
    if seed is not None: set_seed(seed, reproducible=True)
    to = TabularPandas(data.reset_index(drop=True), procs=[Normalize], cont_names=list(features), y_names=TARGETS,
                       y_block=RegressionBlock(n_out=len(TARGETS)), splits=ColSplitter('fold', on=fold)(data))
    learn = readable_progress(tabular_learner(to.dataloaders(bs=bs), layers=list(layers), n_out=len(TARGETS),
                                              loss_func=KLDivLossFlat(), metrics=kl_metrics()))
    fit_best(learn, epochs, lr, cbs=cbs)
    return learn


def catboost_fold(data: pd.DataFrame, features: list[str], fold: int, iterations: int = 1000, seed: int = SEED):
    """CatBoost MultiClass on `data` minus `fold`: each row repeated per voted class, weighted by its vote fraction."""
    from catboost import CatBoostClassifier
    train = data[data['fold'] != fold]
    votes = train[TARGETS].to_numpy()
    row, cls = np.nonzero(votes > 0)                  # soft targets as weighted hard labels: the same cross-entropy
    model = CatBoostClassifier(loss_function='MultiClass', iterations=iterations, random_seed=seed, verbose=False)
    model.fit(train[features].to_numpy()[row], cls, sample_weight=votes[row, cls])
    return model


def _catboost_probs(model, x: np.ndarray) -> np.ndarray:
    """A CatBoost model's probabilities in TARGETS order (0 for a class it never saw)."""
    out = np.zeros((len(x), len(TARGETS)))
    out[:, np.asarray(model.classes_, int)] = model.predict_proba(x)
    return out


def _fill(feats: pd.DataFrame, medians: pd.Series) -> pd.DataFrame:
    """Features with NaN (an all-NaN window) replaced by the training medians (0 where a whole column is NaN)."""
    return feats.fillna(medians.fillna(0))


def tabular_cv(data: pd.DataFrame, test: pd.DataFrame, features: list[str], catboost: bool = False, layers=(200, 100),
               epochs: int = 30, lr: float = 1e-2, bs: int = 64, iterations: int = 1000,
               seed: int = SEED) -> tuple[pd.DataFrame, np.ndarray, int | None]:
    """Per fold of `data`: fit, predict its held-out rows (OOF) and `test` → (oof eeg_id+fold+TARGETS, mean test probs, params)."""
    medians = data[features].median()
    data, test = data.assign(**_fill(data[features], medians)), test.assign(**_fill(test[features], medians))
    oofs, probs, params = [], 0, None
    folds = sorted(set(data['fold']))
    for k in folds:
        valid = data[data['fold'] == k]
        if catboost:
            model = catboost_fold(data, features, k, iterations, seed)
            pv, pt = _catboost_probs(model, valid[features].to_numpy()), _catboost_probs(model, test[features].to_numpy())
        else:
            learn = tabular_fold(data, features, k, layers, epochs, lr, bs, seed)
            pv = learn.get_preds(ds_idx=1)[0].numpy()
            pt = learn.get_preds(dl=learn.dls.test_dl(test[features]))[0].numpy()
            params = total_params(learn.model)[0]
        oofs.append(target_frame(valid['eeg_id'], pv, k))
        probs = probs + pt / len(folds)
    return pd.concat(oofs, ignore_index=True), probs, params
