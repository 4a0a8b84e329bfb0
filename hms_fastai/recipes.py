"""Training recipes: one fold (single or two-stage: all rows, then expert rows), and k folds with OOF scores and exports."""
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from fastai.callback.tracker import SaveModelCallback
from fastai.learner import Learner
from fastai.torch_core import set_seed

from .atomic import atomic_path
from .augment import hms_augs
from .data import hms_dls
from .errors import HMSDataError
from .learner import hms_learner
from .meta import add_folds
from .score import kaggle_score, target_frame

__all__ = ['fit_best', 'train_fold', 'train_two_stage', 'oof_preds', 'oof_scores', 'export_learner', 'train_folds']


@contextmanager
def _checkpoints(learn: Learner):
    """Point the learner's model_dir at a temporary folder for best-epoch checkpoints; restore it afterwards."""
    old = learn.model_dir
    with tempfile.TemporaryDirectory(prefix='hms_ckpt_') as d:
        learn.model_dir = Path(d)
        try: yield
        finally: learn.model_dir = old


def _monitor(learn: Learner, monitor: str) -> str:
    """`monitor`, or valid_loss when it is kl_expert and the validation rows have no expert row (the metric is NaN)."""
    return 'valid_loss' if monitor == 'kl_expert' and not learn.dls.valid.items['expert'].any() else monitor


def fit_best(learn: Learner, epochs: int, lr: float, monitor: str = 'valid_loss', cbs=(), fine: bool = False):
    """fine_tune (frozen pretrained body) or fit_one_cycle, keeping the best epoch by `monitor` (lower is better)."""
    save = SaveModelCallback(monitor=_monitor(learn, monitor), comp=np.less, fname='best', with_opt=False)
    with _checkpoints(learn):
        try:
            if fine: learn.fine_tune(epochs, base_lr=lr, cbs=[save, *cbs])
            else: learn.fit_one_cycle(epochs, lr, cbs=[save, *cbs])
        except FileNotFoundError as e:          # SaveModelCallback saved nothing: the monitor was never finite
            if (learn.path / learn.model_dir / 'best.pth').exists(): raise
            raise FloatingPointError(f'{save.monitor} was NaN in every epoch (diverged or NaN inputs): '
                                     f'nothing to keep; lower the lr (now {lr:g}) or check the features') from e


def _setup(table, store, fold, arch, bs, channels, flip, mask, mixup, pretrained, seed, num_workers, **kwargs):
    """Learner of one fold, its batch transforms and fit callbacks."""
    if seed is not None: set_seed(seed, reproducible=True)
    tfms, cbs = hms_augs(flip, mask, mixup)
    dls = hms_dls(table, store, fold=fold, bs=bs, channels=channels, batch_tfms=tfms, num_workers=num_workers)
    return hms_learner(dls, arch, pretrained=pretrained, **kwargs), tfms, cbs


def train_fold(table: pd.DataFrame, store, fold: int = 0, arch: str = 'resnet34d', epochs: int = 5, lr: float = 1e-3,
               bs: int = 32, channels: list[str] | None = None, flip: float = 0.5, mask: float = 0.5, mixup: float = 0.0,
               pretrained=False, monitor: str = 'valid_loss', seed: int | None = None, num_workers: int = 0,
               **kwargs) -> Learner:
    """Train one fold on all its training rows (fine_tune if pretrained, else fit_one_cycle); keep the best epoch."""
    learn, _, cbs = _setup(table, store, fold, arch, bs, channels, flip, mask, mixup, pretrained, seed, num_workers, **kwargs)
    fit_best(learn, epochs, lr, monitor, cbs, fine=bool(pretrained))
    return learn


def train_two_stage(table: pd.DataFrame, store, fold: int = 0, arch: str = 'resnet34d', epochs: tuple[int, int] = (5, 3),
                    lr: float = 1e-3, lr2: float | None = None, bs: int = 32, channels: list[str] | None = None,
                    flip: float = 0.5, mask: float = 0.5, mixup: float = 0.0, pretrained=False,
                    monitor: str = 'valid_loss', monitor2: str = 'kl_expert', seed: int | None = None,
                    num_workers: int = 0, **kwargs) -> Learner:
    """Stage 1 on all training rows, stage 2 (lr2 = lr/10) on expert training rows; validation keeps all fold rows."""
    stage2 = table[table['expert'].to_numpy(bool) | (table['fold'] == fold).to_numpy()]
    n2 = int((stage2['fold'] != fold).sum())
    if n2 < bs: raise HMSDataError('table', f'stage 2 of fold {fold} has {n2} expert training rows, fewer than one batch (bs={bs})')
    learn, tfms, cbs = _setup(table, store, fold, arch, bs, channels, flip, mask, mixup, pretrained, seed, num_workers, **kwargs)
    fit_best(learn, epochs[0], lr, monitor, cbs, fine=bool(pretrained))
    learn.dls = hms_dls(stage2, store, fold=fold, bs=bs, channels=channels, batch_tfms=tfms,
                        num_workers=num_workers)
    fit_best(learn, epochs[1], lr / 10 if lr2 is None else lr2, monitor2, cbs, fine=False)
    return learn


def oof_preds(learn: Learner) -> pd.DataFrame:
    """Probabilities of a learner's validation rows: eeg_id, fold, TARGETS."""
    probs, _ = learn.get_preds(ds_idx=1)
    items = learn.dls.valid.items
    return target_frame(items['eeg_id'], probs.numpy(), items['fold'])


def oof_scores(table: pd.DataFrame, oof: pd.DataFrame) -> dict:
    """Kaggle score of out-of-fold predictions on all their rows and on expert rows (NaN when there are none)."""
    truth = table.set_index('eeg_id').loc[oof['eeg_id']].reset_index()
    expert = truth['expert'].to_numpy(bool)
    return {'kl': kaggle_score(truth, oof),
            'kl_expert': kaggle_score(truth[expert], oof[expert]) if expert.any() else float('nan')}


def export_learner(learn: Learner, path) -> Path:
    """`learn.export` to `path` atomically (a killed export leaves no half-written file)."""
    with atomic_path(Path(path)) as tmp: learn.export(tmp)
    return Path(path)


def train_folds(table: pd.DataFrame, store, out_dir, folds=None, n_folds: int = 5, two_stage: bool = False,
                seed: int | None = None, **kwargs) -> tuple[list[Path], pd.DataFrame, dict]:
    """Train each fold (of `table.fold`, else add_folds(n_folds)); export out_dir/fold{k}.pkl, write oof.csv; score OOF."""
    out_dir = Path(out_dir)
    if 'fold' not in table.columns: table = add_folds(table, n_folds)
    train = train_two_stage if two_stage else train_fold
    paths, oofs = [], []
    for k in sorted(set(table['fold'])) if folds is None else folds:
        learn = train(table, store, fold=k, seed=seed, **kwargs)
        oofs.append(oof_preds(learn))
        paths.append(export_learner(learn, out_dir / f'fold{k}.pkl'))
    oof = pd.concat(oofs, ignore_index=True)
    with atomic_path(out_dir / 'oof.csv', '.csv') as tmp: oof.to_csv(tmp, index=False)
    return paths, oof, oof_scores(table, oof)
