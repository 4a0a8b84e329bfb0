"""Training recipes: one fold (stage 1 on all rows, then optionally stage 2 on expert rows), k folds with OOF and exports."""
import hashlib
import time
from typing import NamedTuple

import numpy as np
import pandas as pd
from fastai.callback.hook import total_params
from fastai.callback.tracker import TrackerCallback
from fastai.learner import Learner
from fastai.torch_core import distrib_barrier, rank_distrib, set_seed
from fastcore.meta import delegates

from ..competition.meta import add_folds, pseudo_label
from ..competition.score import oof_scores, target_frame
from ..core.atomic import atomic_path
from ..core.errors import HMSDataError
from ..core.train_args import TrainArgs
from .augment import hms_augs
from .data import check_fold_table, hms_dls, hms_test_dl
from .device import oom_as_error, precision_plan
from .distributed import shard, unshard
from .exports import export_learner, load_exported
from .kinds import get_kind
from .learner import hms_learner
from .runs import RunFolder, read_manifest, run_exports

__all__ = ['KeepBestModel', 'fit_best', 'train_fold', 'oof_preds', 'TrainedFolds', 'check_run', 'train_folds']


class KeepBestModel(TrackerCallback):
    """fastai's SaveModelCallback in memory: the best epoch's weights by `monitor` come back after fit (no files)."""
    order = TrackerCallback.order + 1

    def before_fit(self):
        """Start with no best weights."""
        super().before_fit()
        self.state, self.best_epoch = None, None

    def after_epoch(self):
        """Copy the weights of a new best epoch (of the module inside a DistributedDataParallel wrapper, if any)."""
        super().after_epoch()
        model = getattr(self.learn.model, 'module', self.learn.model)
        if self.new_best: self.state, self.best_epoch = {k: v.detach().clone() for k, v in model.state_dict().items()}, self.epoch

    def after_fit(self):
        """Restore the best epoch's weights (FloatingPointError if the monitor was never finite)."""
        if self.run and self.state is None:
            raise FloatingPointError(f'{self.monitor} was NaN in every epoch (diverged or NaN inputs): nothing to keep; '
                                     f'lower the lr or check the features')
        if self.state is not None: getattr(self.learn.model, 'module', self.learn.model).load_state_dict(self.state)
        self.state = None
        super().after_fit()


def _monitor(learn: Learner, monitor: str) -> str:
    """`monitor`, or valid_loss when it is kl_expert and the validation rows have no expert row (the metric is NaN)."""
    return 'valid_loss' if monitor == 'kl_expert' and not learn.dls.valid.items['expert'].any() else monitor


def fit_best(learn: Learner, epochs: int, lr: float, monitor: str = 'valid_loss', cbs=(), fine: bool = False) -> pd.DataFrame:
    """fine_tune (frozen pretrained body) or fit_one_cycle, keeping the best epoch by `monitor`; the epochs' losses and metrics."""
    keep = KeepBestModel(monitor=_monitor(learn, monitor), comp=np.less)
    if fine: learn.fine_tune(epochs, base_lr=lr, cbs=[keep, *cbs])
    else: learn.fit_one_cycle(epochs, lr, cbs=[keep, *cbs])
    history = pd.DataFrame(learn.recorder.values, columns=learn.recorder.metric_names[1:-1])
    return history.assign(kept=history.index == keep.best_epoch)


def _expert_stage(table: pd.DataFrame, fold: int, bs: int) -> pd.DataFrame:
    """Stage 2's table: expert training rows and every validation row (HMSDataError if fewer than one batch of the former)."""
    stage2 = table[table['expert'].to_numpy(bool) | (table['fold'] == fold).to_numpy()]
    n2 = int((stage2['fold'] != fold).sum())
    if n2 < bs: raise HMSDataError('table', f'stage 2 of fold {fold} has {n2} expert training rows, fewer than one batch (bs={bs})')
    return stage2


def _learner_dls(table: pd.DataFrame, store, fold: int, args: TrainArgs, vote_weight: bool, batch_tfms):
    """The DataLoaders `args` asks for: its kind's inputs from `store`, `fold` validating."""
    return hms_dls(table, store, fold, args.kind, args.bs, args.channels, batch_tfms, args.windows, args.jitter, vote_weight,
                   targets=args.targets, num_workers=args.num_workers)


@delegates(TrainArgs, but=['folds', 'folds_used', 'pseudo', 'pseudo_below', 'pseudo_keep'])
def train_fold(table: pd.DataFrame, store, fold: int = 0,
               args: TrainArgs | None = None,   # the training arguments (kwargs that are fields of TrainArgs replace its)
               distributed: bool = False,       # one of several processes: each trains on its shard of every batch (DDP)
               cbs=(),                          # more fastai callbacks for each stage's fit (e.g. TensorBoard, pruning)
               **kwargs) -> Learner:
    """Stage 1 on all training rows (fine_tune if pretrained, else one-cycle), stage 2 (epochs2 > 0) on expert rows at lr2."""
    # kwargs that are not training arguments go to the learner (e.g. head arguments: lin_ftrs, ps)
    args, learner_kwargs = TrainArgs.split(args, **kwargs)
    stage2 = _expert_stage(table, fold, args.bs) if args.epochs2 else None
    if args.seed is not None: set_seed(args.seed + rank_distrib(), reproducible=True)     # each process its own draws
    tfms, aug_cbs = hms_augs(args.flip, args.mask, args.mixup)
    cbs = [*aug_cbs, *cbs]
    learn = hms_learner(_learner_dls(table, store, fold, args, args.vote_weight, tfms), args.arch, args.pretrained, args.lr,
                        precision=args.precision, **learner_kwargs)
    if distributed: shard(learn)
    with oom_as_error(args.bs, f'training fold {fold}'):
        learn.history = fit_best(learn, args.epochs, args.lr, args.monitor, cbs, fine=bool(args.pretrained)).assign(stage=1)
        if stage2 is not None:
            learn.dls = _learner_dls(stage2, store, fold, args, False, tfms)
            two = fit_best(learn, args.epochs2, args.lr / 10 if args.lr2 is None else args.lr2, args.monitor2, cbs).assign(stage=2)
            learn.history = pd.concat([learn.history, two], ignore_index=True)   # each stage's epochs; `kept`: their best
    return unshard(learn) if distributed else learn


def oof_preds(learn: Learner) -> pd.DataFrame:
    """Probabilities of a learner's validation rows: eeg_id, fold, TARGETS."""
    probs, _ = learn.get_preds(ds_idx=1)
    items = learn.dls.valid.items
    return target_frame(items['eeg_id'], probs.numpy(), items['fold'])


class TrainedFolds(NamedTuple):
    """What `train_folds` made: exports (weights-only .json), OOF predictions (eeg_id, fold, TARGETS), scores, parameters."""
    paths: list
    oof: pd.DataFrame
    scores: dict
    params: int


def _run_record(table: pd.DataFrame, args: TrainArgs, learner_kwargs: dict) -> dict:
    """What identifies a run for its folder: the rows and their folds (a hash), and every training argument."""
    rows = hashlib.sha256(table[['eeg_id', 'fold']].to_numpy(np.int64).tobytes()).hexdigest()[:16]
    return {'rows_and_folds': rows, **args.record(), **learner_kwargs}     # the folds trained: the manifest's 'folds'


def _first_round(folder, record: dict, folds: list) -> dict:
    """A pseudo-label first round's exports (fold → path), checked finished, intact, and trained on this run's folds."""
    # Its fold-k model must never have seen fold k's rows: the same rows in the same folds (their hash), every fold trained.
    exports = run_exports(folder)                              # complete, every file present with its hash
    first = read_manifest(folder)
    theirs, ours = first['run'].get('rows_and_folds'), record['rows_and_folds']
    if theirs != ours:
        raise HMSDataError('pseudo', f'{folder} was trained on other folds (rows_and_folds {theirs}, this run {ours}): its fold '
                                     f'models saw rows this run validates on')
    missing = [k for k in folds if k not in first['folds']]
    if missing: raise HMSDataError('pseudo', f'{folder} has no model of fold(s) {missing} (it trained {first["folds"]})')
    return dict(zip(first['folds'], exports))


def _relabelled(table: pd.DataFrame, store, fold: int, first, args: TrainArgs) -> pd.DataFrame:
    """Fold `fold`'s second-round table: training rows pseudo-labelled by the first round's fold model `first`, validation as is."""
    # The first round's fold-`fold` model never saw this fold, so nothing of the validation rows' labels leaks into
    # the new training labels; the validation rows keep their own votes.
    learn = load_exported(first, precision=args.precision)
    rows = table[table['fold'] != fold]
    with learn.no_bar(): probs, _ = learn.tta(dl=hms_test_dl(learn.dls, rows, store))
    new = pseudo_label(rows, target_frame(rows['eeg_id'], probs.numpy()), args.pseudo_below, args.pseudo_keep)
    return pd.concat([new, table[table['fold'] == fold].assign(pseudo=False)]).loc[table.index]


def _open_run(table: pd.DataFrame, out_dir, args: TrainArgs, learner_kwargs: dict) -> tuple[RunFolder, dict]:
    """The run folder checked for this run (nothing written), and a pseudo-label first round's exports by fold."""
    folds = sorted(set(table['fold'])) if args.folds_used is None else list(args.folds_used)
    missing = sorted(set(folds) - set(table['fold']))
    if missing: raise HMSDataError('folds_used', f'fold(s) {missing} are not in the table (folds {sorted(set(table["fold"]))})')
    for k in folds:                                            # every fold's stages, before any training
        check_fold_table(table, k, args.bs)
        if args.epochs2: _expert_stage(table, k, args.bs)
    record = _run_record(table, args, learner_kwargs)
    first = _first_round(args.pseudo, record, folds) if args.pseudo else {}
    return RunFolder.open(out_dir, record, folds), first


def check_run(table: pd.DataFrame, out_dir, args: TrainArgs | None = None, **kwargs) -> RunFolder:
    """The run folder `out_dir` checked for this run, nothing written (HMSDataError: another run's, a leaky first round…)."""
    # Refused: another run's folder, a fold short of one batch or of expert rows for stage 2, a pseudo-label first round
    # unfinished, altered, or trained on other folds.
    args, learner_kwargs = TrainArgs.split(args, **kwargs)
    return _open_run(table, out_dir, args, learner_kwargs)[0]


@delegates(TrainArgs)
def train_folds(table: pd.DataFrame, store, out_dir,
                args: TrainArgs | None = None,   # the training arguments (kwargs that are fields of TrainArgs replace its)
                distributed: bool = False,       # one of several processes (train_run): rank 0 alone predicts and writes
                cbs=(),                          # more fastai callbacks for every fit, not part of the run (e.g. TensorBoard)
                **kwargs) -> TrainedFolds | None:
    """`train_fold` for each fold of `table.fold` (else fold_table's) into out_dir, a run folder: resumable after a kill."""
    # out_dir/models.json first (the run, no fold done); per fold fold{k}_history.csv, fold{k}_oof.csv, fold{k}.pkl
    # (+ .safetensors/.json weights-only), then the fold recorded in models.json; oof.csv and models.json complete last.
    # Started again after a kill at any point, the same run keeps its finished folds; a folder of another run is refused.
    # args.pseudo (a finished first round's run folder, on these folds): a second round on pseudo-labelled rows.
    args, learner_kwargs = TrainArgs.split(args, **kwargs)
    if 'fold' not in table.columns: table = add_folds(table, args.folds, args.seed)
    run, first = _open_run(table, out_dir, args, learner_kwargs)
    folds, writer = run.manifest['folds'], not (distributed and rank_distrib())
    if writer: run.start()                                   # the manifest first: whatever a kill leaves, this resumes
    if writer and set(folds) - run.done: print(precision_plan(args.precision, spatial=get_kind(args.kind).spatial)['note'], flush=True)
    paths, oofs, learn = [], [], None
    for k in folds:
        path, oof_path, history = run.folder / f'fold{k}.json', run.folder / f'fold{k}_oof.csv', run.folder / f'fold{k}_history.csv'
        if k not in run.done:
            t0 = time.perf_counter()
            learn = train_fold(_relabelled(table, store, k, first[k], args) if args.pseudo else table, store, k, args,
                               distributed=distributed, cbs=cbs, **learner_kwargs)
            if writer:                                       # each file whole (atomic), the fold recorded only after all
                with atomic_path(history) as tmp: learn.history.to_csv(tmp, index_label='epoch')
                with atomic_path(oof_path) as tmp: oof_preds(learn).to_csv(tmp, index=False)
                path = export_learner(learn, path)
                run.record(k, [p for p in (path.with_suffix('.pkl'), path.with_suffix('.safetensors'), path, oof_path, history)
                               if p.exists()], seconds=time.perf_counter() - t0)
            if distributed: distrib_barrier()
        if not writer: continue
        paths.append(path)
        oofs.append(pd.read_csv(oof_path))
    if not writer: return None
    oof = pd.concat(oofs, ignore_index=True)
    with atomic_path(run.folder / 'oof.csv') as tmp: oof.to_csv(tmp, index=False)
    params, scores = total_params((learn if learn is not None else load_exported(paths[0])).model)[0], oof_scores(table, oof)
    run.finish([run.folder / 'oof.csv'], params=params, scores={k: v if v == v else None for k, v in scores.items()})   # NaN: null
    return TrainedFolds(paths, oof, scores, params)
