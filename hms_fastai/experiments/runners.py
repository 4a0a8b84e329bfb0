"""Running configs: each kind of config trained on one shared fold assignment, scored side by side in one table."""
from .. import learn as _quiet_fastai  # noqa: F401  (first: fastai is imported quietly there)

import importlib.util
import time
import warnings
from dataclasses import dataclass, field
from functools import singledispatch
from pathlib import Path

import numpy as np
import pandas as pd
from fastai.callback.hook import total_params

from ..competition.baselines import prior_probs, uniform_probs
from ..competition.blend import fit_blend, write_blend
from ..competition.io import load_competition, read_csv
from ..competition.meta import fold_table
from ..competition.score import target_frame
from ..core.constants import PARTS, TARGETS
from ..core.errors import HMSDataError
from ..core.train_args import TrainArgs
from ..learn.data import hms_test_dl
from ..learn.exports import export_learner
from ..learn.infer import predict
from ..learn.kinds import get_kind
from ..learn.launch import run_parts
from ..learn.recipes import TrainedFolds, train_folds
from ..signals.prepare import prepare
from .configs import CONFIGS, REFERENCES, BlendConfig, EnsembleConfig, ExperimentConfig, NaiveConfig, PseudoConfig, TabularConfig, TrainConfig
from .naive import MISTAKES, naive_frame, naive_probs, train_naive_fold
from .results import Result, record_result, write_results
from .tabular import spec_feature_names, spec_features, tabular_cv

__all__ = ['config_parts', 'run_config', 'run_experiments']


@dataclass
class _Run:
    """What the configs of one run share: paths, stores, the folds, the seed, and image trainings done so far."""
    data_root: Path
    cache_dir: Path
    out_dir: Path
    train: object
    test: object
    table: pd.DataFrame
    seed: int
    trained: dict = field(default_factory=dict)   # TrainConfig (without lb/about) → (TrainedFolds, seconds)
    configs: dict = field(default_factory=dict)   # the run's configs by name
    results: dict = field(default_factory=dict)   # config name → its Result, as the run goes


def _reference(name: str, run: _Run) -> Result:
    """The uniform or train-prior row; the prior's OOF uses only the other folds' votes."""
    t0, t, n_test = time.perf_counter(), run.table, len(run.test.table)
    if name == 'uniform': oof, test = uniform_probs(len(t)), uniform_probs(n_test)
    else:
        oof = np.empty((len(t), len(TARGETS)))
        for k in set(t['fold']):
            m = (t['fold'] == k).to_numpy()
            oof[m] = prior_probs(t[~m], int(m.sum()))
        test = prior_probs(t, n_test)
    return Result(target_frame(t['eeg_id'], oof, t['fold']), target_frame(run.test.table['eeg_id'], test), REFERENCES[name][0],
                  0, 0, time.perf_counter() - t0)


def _train_config(cfg: TrainConfig, run: _Run, folder: Path, pseudo: PseudoConfig | None = None) -> tuple[TrainedFolds, float]:
    """The config trained over the run's folds (exports in `folder`) and its seconds; an identical one is reused."""
    args = cfg.train_args(run.seed)
    if pseudo:                                   # pseudo-labels are per eeg: the second round trains towards eeg targets
        args = args.replace(pseudo=str(run.out_dir / pseudo.base), pseudo_below=pseudo.below, pseudo_keep=pseudo.keep, targets='eeg')
    if args not in run.trained:
        t0 = time.perf_counter()
        run.trained[args] = train_folds(run.table, run.train, folder, args), time.perf_counter() - t0
    return run.trained[args]


def _describe(cfg: TrainArgs) -> str:
    """A short description of a trained config."""
    kind = get_kind(cfg.kind)
    inputs = f'{len(kind.input_channels(cfg.channels))} {"ch" if kind.spatial else "chains"}'
    return f'{cfg.arch or kind.arch} · {inputs} · {cfg.epochs}{f" + {cfg.epochs2} expert" if cfg.epochs2 else ""} ep · {cfg.windows} windows'


@singledispatch
def config_parts(cfg: ExperimentConfig) -> set:
    """The store parts a config reads (nothing of its own: a blend or pseudo-label round reads through its members)."""
    return set()


@config_parts.register
def _(cfg: TrainConfig) -> set:
    return set(run_parts(cfg))


@config_parts.register
def _(cfg: EnsembleConfig) -> set:
    return set().union(*(config_parts(m) for m in cfg.members))


@config_parts.register
def _(cfg: TabularConfig) -> set:
    return {'spec'}


@singledispatch
def run_config(cfg: ExperimentConfig, name: str, run: _Run) -> Result:
    """Train and predict one config of a run (exports under out_dir/name); one implementation per config type."""
    raise TypeError(f'no runner for {type(cfg).__name__}; register one with @run_config.register')


@run_config.register
def _(cfg: TrainConfig, name: str, run: _Run) -> Result:
    """Train per fold, then identity+flip TTA of the fold learners on the test set."""
    trained, train_s = _train_config(cfg, run, run.out_dir / name)
    t0 = time.perf_counter()
    test = predict(trained.paths, run.data_root, run.cache_dir, precision=cfg.precision)
    return Result(trained.oof, test, _describe(cfg), len(trained.paths), trained.params,
                  train_s + time.perf_counter() - t0, trained.paths)


@run_config.register
def _(cfg: EnsembleConfig, name: str, run: _Run) -> Result:
    """Train each member per fold (or reuse it), average the members' OOF and all their learners on the test set."""
    members = [_train_config(m, run, run.out_dir / name / f'member{i}') for i, m in enumerate(cfg.members)]
    t0 = time.perf_counter()
    paths = [p for trained, _ in members for p in trained.paths]
    test = predict(paths, run.data_root, run.cache_dir, precision=cfg.members[0].precision)
    oofs = pd.concat([trained.oof for trained, _ in members]).groupby('eeg_id', sort=False)
    oof = oofs[TARGETS].mean().assign(fold=oofs['fold'].first()).reset_index()
    model = ' + '.join(f'{n} × {d}' for d, n in pd.Series([_describe(m) for m in cfg.members]).value_counts(sort=False).items())
    return Result(oof, test, model, len(paths), sum(trained.params for trained, _ in members),
                  sum(s for _, s in members) + time.perf_counter() - t0, paths)


@run_config.register
def _(cfg: TabularConfig, name: str, run: _Run) -> Result:
    """Features of both stores, then tabular_cv on the run's folds (CatBoost only if asked for and installed)."""
    t0 = time.perf_counter()
    catboost = cfg.catboost and importlib.util.find_spec('catboost') is not None
    if cfg.catboost and not catboost: warnings.warn(f'{name}: catboost is not installed; using fastai tabular_learner')
    features = spec_feature_names(cfg.bands)
    data = run.table.merge(spec_features(run.train, cfg.bands), on='eeg_id')
    test = spec_features(run.test, cfg.bands)
    oof, probs, params = tabular_cv(data, test, features, catboost, cfg.layers, cfg.epochs, cfg.lr, cfg.bs, cfg.iterations,
                                    run.seed)
    model = f'CatBoost {cfg.iterations} trees' if catboost else f'tabular_learner {list(cfg.layers)} · {cfg.epochs} ep'
    folds = len(set(run.table['fold']))
    return Result(oof, target_frame(test['eeg_id'], probs), f'{model} · {len(features)} features', folds,
                  params, time.perf_counter() - t0)


@run_config.register
def _(cfg: BlendConfig, name: str, run: _Run) -> Result:
    """Members' OOF and test predictions combined: equal weights, or fitted on the OOF (CV: each fold held out)."""
    missing = [m for m in cfg.members if m not in run.results]
    if missing: raise HMSDataError(name, f'its members {missing} must be run before it (list them first in --only or the registry)')
    t0, res = time.perf_counter(), {m: run.results[m] for m in cfg.members}
    oofs = {m: r.oof for m, r in res.items()}
    if cfg.fitted:
        blend = fit_blend(oofs, run.table, cfg.on)
        w, note = np.array(list(blend.weights.values())), f'OOF {cfg.on} KL fitted {blend.kl:.4f}, held out {blend.kl_heldout:.4f}, equal {blend.kl_equal:.4f}'
        write_blend(blend, run.out_dir / name / 'blend.json')
    else: w, note = np.full(len(res), 1 / len(res)), 'equal weights'
    frames = [r.oof.set_index('eeg_id').loc[run.table.eeg_id] for r in res.values()]
    oof = target_frame(run.table.eeg_id, sum(wk * f[TARGETS].to_numpy() for wk, f in zip(w, frames)), run.table['fold'].to_numpy())
    test = sum(wk * r.test.set_index('eeg_id')[TARGETS] for wk, r in zip(w, res.values())).reset_index()
    model = ' + '.join(f'{wk:.2f} × {m}' for m, wk in zip(res, w)) + f' ({note})'
    return Result(oof, test, model, sum(r.learners for r in res.values()), sum(r.params or 0 for r in res.values()),
                  time.perf_counter() - t0, [p for r in res.values() for p in r.paths])


@run_config.register
def _(cfg: PseudoConfig, name: str, run: _Run) -> Result:
    """The base config trained again, each fold on the rows its first-round model pseudo-labelled (see train_folds)."""
    base = run.configs.get(cfg.base)
    if not isinstance(base, TrainConfig) or cfg.base not in run.results:
        raise HMSDataError(name, f'its base {cfg.base!r} must be a trained config run before it')
    trained, train_s = _train_config(base, run, run.out_dir / name, cfg)
    t0 = time.perf_counter()
    test = predict(trained.paths, run.data_root, run.cache_dir, precision=base.precision)
    return Result(trained.oof, test, f'{_describe(base)} · pseudo-labels < {cfg.below} votes, keep {cfg.keep}', len(trained.paths),
                  trained.params, train_s + time.perf_counter() - t0, trained.paths)


@run_config.register
def _(cfg: NaiveConfig, name: str, run: _Run) -> Result:
    """The negative control per fold (exports in out_dir/name): vocab-ordered probabilities under TARGETS names."""
    t0, folds = time.perf_counter(), sorted(set(run.table['fold']))
    oofs, probs, paths = [], 0, []
    for k in folds:
        learn = train_naive_fold(run.table, run.train, k, cfg.arch, cfg.epochs, cfg.lr, cfg.bs, cfg.channels, run.seed)
        oofs.append(naive_frame(learn.dls.valid.items['eeg_id'], naive_probs(learn, tta=cfg.tta)).assign(fold=k))
        probs = probs + naive_probs(learn, hms_test_dl(learn.dls, run.test.table, run.test), cfg.tta) / len(folds)
        paths.append(export_learner(learn, run.out_dir / name / f'fold{k}.pkl'))
    model = f'{cfg.arch} frozen · CategoryBlock + CE · vocab columns · {cfg.epochs} ep'
    return Result(pd.concat(oofs, ignore_index=True), naive_frame(run.test.table['eeg_id'], probs), model, len(folds),
                  total_params(learn.model)[0], time.perf_counter() - t0, paths)


def _select(configs: dict, only, epochs) -> list[str]:
    """Names of the configs to run, in registry order (HMSDataError naming any unknown name)."""
    unknown = [n for n in (only or []) if n not in configs and n not in REFERENCES]
    if unknown: raise HMSDataError('--only', f'unknown config(s) {unknown}; known: {[*REFERENCES, *configs]}')
    if isinstance(epochs, dict) and set(epochs) - set(configs):
        raise HMSDataError('epochs', f'unknown config(s) {sorted(set(epochs) - set(configs))}; known: {list(configs)}')
    return [n for n in configs if only is None or n in only]


def _notes(chosen: dict) -> list[str]:
    """Footnotes of the table: for a negative control, each mistake and the package default that prevents it."""
    naive = [n for n, c in chosen.items() if isinstance(c, NaiveConfig)]
    return [f'{", ".join(naive)} (negative control) — {m}; prevented by {fix}' for m, fix in MISTAKES] if naive else []


def run_experiments(data_root, cache_dir, out_dir,
                    only=None,                  # config names to run (default: all of `configs`)
                    n_folds: int = TrainArgs.folds, seed: int = TrainArgs.seed,
                    configs: dict | None = None,  # name → config (default: CONFIGS)
                    epochs: int | dict | None = None,   # every config's stage-1 epochs, or a dict name → epochs
                    **overrides) -> pd.DataFrame:     # training arguments set on every config that has them (epochs2, bs, …)
    """Train `configs` (default CONFIGS; all, or `only` these) on one fold assignment; score OOF (and test); write results."""
    # the train store keeps the largest jitter as its margin
    configs = CONFIGS if configs is None else configs
    chosen = {n: configs[n].overridden(epochs=epochs.get(n) if isinstance(epochs, dict) else epochs, **overrides)
              for n in _select(configs, only, epochs)}
    need = set().union(*(config_parts(c) for c in chosen.values()))
    parts = tuple(p for p in PARTS if p in need) or ('spec',)
    margin = max([m.jitter for c in chosen.values() for m in getattr(c, 'members', [c]) if hasattr(m, 'jitter')], default=0.0)
    comp = load_competition(data_root)
    train, test = prepare(comp, cache_dir, 'train', parts, margin=margin), prepare(comp, cache_dir, 'test', parts)
    run = _Run(Path(data_root), Path(cache_dir), Path(out_dir), train, test, fold_table(comp, n_folds, seed), seed, configs=chosen)
    sol = Path(data_root) / 'test_solution.csv'
    solution = read_csv(sol, ['eeg_id', *TARGETS]) if sol.is_file() else None
    rows, notes = [], _notes(chosen)
    for name in [*REFERENCES, *chosen]:
        cfg = chosen.get(name)
        print(f'[experiments] {name}', flush=True)
        result = run.results[name] = _reference(name, run) if cfg is None else run_config(cfg, name, run)
        scores = record_result(run.out_dir / name, result, run.table, comp.test['eeg_id'], solution)
        rows.append({'config': name, 'model': result.model, **scores, 'learners': result.learners, 'params': result.params,
                     'wall_s': result.wall_s, 'original_lb': REFERENCES[name][1] if cfg is None else cfg.lb})
        table = write_results(rows, run.out_dir, notes)
    return table
