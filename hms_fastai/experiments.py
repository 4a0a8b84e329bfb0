"""The experiment log's systems as named configs (data, not code), trained on one fold assignment, scored side by side."""
import importlib.util
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_path
from .baselines import prior_probs, uniform_probs
from .constants import CHANNELS, TARGETS
from .data import hms_test_dl
from .errors import HMSDataError
from .infer import load_learners, predict
from .io import load_competition, read_csv
from .meta import add_folds
from .naive import MISTAKES, naive_frame, naive_probs, train_naive_fold
from .recipes import export_learner, oof_scores, train_folds
from .score import kaggle_score, target_frame
from .store import PARTS, prepare
from .submission import write_submission
from .tabular import spec_feature_names, spec_features, tabular_cv

__all__ = ['ExperimentConfig', 'ImageConfig', 'EnsembleConfig', 'TabularConfig', 'NaiveConfig', 'SPEC_CHANNELS', 'CONFIGS',
           'REFERENCES', 'run_experiments', 'results_markdown']

SPEC_CHANNELS = tuple(c for c in CHANNELS if c.startswith('spec_'))


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """What every named config carries: the original system's public LB (context only) and a short description."""
    lb: float | None = None
    about: str = ''


@dataclass(frozen=True, kw_only=True)
class ImageConfig(ExperimentConfig):
    """A vision learner on a timm body over some of the 8 channels, one per fold; two-stage when epochs2 > 0."""
    # stage 2: epochs2 more on expert rows at lr/10. lr 5e-3 suits bodies trained from scratch.
    arch: str = 'resnet34d'
    channels: tuple[str, ...] = tuple(CHANNELS)
    epochs: int = 8
    epochs2: int = 4
    lr: float = 5e-3
    pretrained: bool | str = False    # True, or a local timm weights file (fine_tune then; use a lower lr, e.g. 1e-3)
    bs: int = 32
    flip: float = 0.5
    mask: float = 0.5
    mixup: float = 0.0
    seed: int = 0                     # added to the run's seed


@dataclass(frozen=True, kw_only=True)
class EnsembleConfig(ExperimentConfig):
    """The mean of image configs trained on the same folds: OOF is the mean of the members' OOF predictions."""
    members: tuple[ImageConfig, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TabularConfig(ExperimentConfig):
    """Spectrogram summary features → fastai tabular_learner, or CatBoost when installed and `catboost=True`."""
    bands: int = 10
    layers: tuple[int, ...] = (200, 100)
    epochs: int = 30
    lr: float = 1e-2
    bs: int = 64
    catboost: bool = False
    iterations: int = 1000            # CatBoost trees


@dataclass(frozen=True, kw_only=True)
class NaiveConfig(ExperimentConfig):
    """The negative control of naive.py: hard labels, cross-entropy, frozen random body, vocab columns, random TTA."""
    arch: str = 'resnet34'
    channels: tuple[str, ...] = tuple(CHANNELS)
    epochs: int = 4
    lr: float = 1e-3
    bs: int = 32
    tta: bool = True


CONFIGS = {   # name → config; add your own (the name is the folder under out_dir)
    'tabular': TabularConfig(lb=0.81, about='CatBoost starter (LB 0.81, tuned 0.67): spectrogram summaries → tabular model'),
    'effnet_b0_8ch': ImageConfig(arch='efficientnet_b0', lb=0.57, about='EfficientNetB0 on the 8 channels'),
    'resnet34d_spec': ImageConfig(channels=SPEC_CHANNELS, lb=0.47, about='ResNet34d on the Kaggle spectrogram only'),
    'resnet34d_8ch': ImageConfig(about='ResNet34d on the 8 channels'),
    # 6 learners behind every prediction, all on the run's folds: 8 channels and spectrogram-only, seeds +0..2 each.
    # Seed +0 members are identical to the two rows above and are trained once per run (cost: 4 more K-fold trainings).
    'resnet34d_ens6': EnsembleConfig(members=tuple(ImageConfig(channels=c, seed=s) for c in (tuple(CHANNELS), SPEC_CHANNELS)
                                                   for s in range(3)),
                                     lb=0.45, about='6 ResNet34d (8 ch and spectrogram × 3 seeds) averaged'),
    'naive_fastai_resnet34': NaiveConfig(lb=1.14, about='negative control: the failed fastai attempt (see naive.MISTAKES)'),
}

REFERENCES = {'prior': ('train prior (OOF: the other folds\' mean votes)', None), 'uniform': ('1/6 everywhere', 1.09)}


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
    trained: dict = field(default_factory=dict)


@dataclass
class _Result:
    """One config's outcome: OOF and test probabilities (eeg_id + TARGETS), what it was, its cost and learners."""
    oof: pd.DataFrame
    test: pd.DataFrame
    model: str
    learners: int
    params: int | None
    wall_s: float
    paths: list = field(default_factory=list)


def _n_params(model) -> int:
    """Number of parameters of a torch model."""
    return sum(p.numel() for p in model.parameters())


def _reference(name: str, run: _Run) -> _Result:
    """The uniform or train-prior row; the prior's OOF uses only the other folds' votes."""
    t0, t, n_test = time.perf_counter(), run.table, len(run.test.table)
    if name == 'uniform': oof, test = uniform_probs(len(t)), uniform_probs(n_test)
    else:
        oof = np.empty((len(t), len(TARGETS)))
        for k in set(t['fold']):
            m = (t['fold'] == k).to_numpy()
            oof[m] = prior_probs(t[~m], int(m.sum()))
        test = prior_probs(t, n_test)
    return _Result(target_frame(t['eeg_id'], oof, t['fold']), target_frame(run.test.table['eeg_id'], test), REFERENCES[name][0], 0, 0,
                   time.perf_counter() - t0)


def _train_image(cfg: ImageConfig, run: _Run, folder: Path) -> tuple:
    """(paths, oof, seconds, params) of an image config over the folds; an identical earlier training is reused."""
    key = replace(cfg, lb=None, about='')
    if key not in run.trained:
        t0 = time.perf_counter()
        two_stage = cfg.epochs2 > 0
        paths, oof, _ = train_folds(run.table, run.train, folder, two_stage=two_stage,
                                    epochs=(cfg.epochs, cfg.epochs2) if two_stage else cfg.epochs, lr=cfg.lr, bs=cfg.bs,
                                    arch=cfg.arch, channels=list(cfg.channels), flip=cfg.flip, mask=cfg.mask,
                                    mixup=cfg.mixup, pretrained=cfg.pretrained, seed=run.seed + cfg.seed)
        run.trained[key] = (paths, oof, time.perf_counter() - t0, _n_params(load_learners(paths[:1])[0].model))
    return run.trained[key]


def _describe(cfg: ImageConfig) -> str:
    """A short description of an image config."""
    return f'{cfg.arch} · {len(cfg.channels)} ch · {cfg.epochs}{f" + {cfg.epochs2} expert" if cfg.epochs2 else ""} ep'


def _run_image(name: str, cfg: ImageConfig, run: _Run) -> _Result:
    """Train per fold (exports in out_dir/name), then identity+flip TTA of the fold learners on the test set."""
    paths, oof, train_s, params = _train_image(cfg, run, run.out_dir / name)
    t0 = time.perf_counter()
    test = predict(paths, run.data_root, run.cache_dir)
    return _Result(oof, test, _describe(cfg), len(paths), params, train_s + time.perf_counter() - t0, paths)


def _run_ensemble(name: str, cfg: EnsembleConfig, run: _Run) -> _Result:
    """Train each member per fold (or reuse it), average the members' OOF and all their learners on the test set."""
    trained = [_train_image(m, run, run.out_dir / name / f'member{i}') for i, m in enumerate(cfg.members)]
    t0 = time.perf_counter()
    paths = [p for t in trained for p in t[0]]
    test = predict(paths, run.data_root, run.cache_dir)
    oofs = pd.concat([t[1] for t in trained]).groupby('eeg_id', sort=False)
    oof = oofs[TARGETS].mean().assign(fold=oofs['fold'].first()).reset_index()
    model = ' + '.join(f'{n} × {d}' for d, n in pd.Series([_describe(m) for m in cfg.members]).value_counts(sort=False).items())
    return _Result(oof, test, model, len(paths), sum(t[3] for t in trained),
                   sum(t[2] for t in trained) + time.perf_counter() - t0, paths)


def _run_tabular(name: str, cfg: TabularConfig, run: _Run) -> _Result:
    """Features of both stores, then tabular_cv on the run's folds (CatBoost only if asked for and installed)."""
    t0 = time.perf_counter()
    catboost = cfg.catboost and importlib.util.find_spec('catboost') is not None
    if cfg.catboost and not catboost: warnings.warn(f'{name}: catboost is not installed; using fastai tabular_learner')
    features = spec_feature_names(cfg.bands)
    data = run.table.merge(spec_features(run.train, cfg.bands), on='eeg_id')
    test = spec_features(run.test, cfg.bands)
    oof, probs, params = tabular_cv(data, test, features, catboost, cfg.layers, cfg.epochs, cfg.lr, cfg.bs, cfg.iterations,
                                    run.seed)
    model = (f'CatBoost {cfg.iterations} trees' if catboost else f'tabular_learner {list(cfg.layers)} · {cfg.epochs} ep')
    return _Result(oof, target_frame(test['eeg_id'], probs), f'{model} · {len(features)} features', len(set(run.table['fold'])),
                   params, time.perf_counter() - t0)


def _run_naive(name: str, cfg: NaiveConfig, run: _Run) -> _Result:
    """The negative control per fold (exports in out_dir/name): vocab-ordered probabilities under TARGETS names."""
    t0, folds = time.perf_counter(), sorted(set(run.table['fold']))
    oofs, probs, paths = [], 0, []
    for k in folds:
        learn = train_naive_fold(run.table, run.train, k, cfg.arch, cfg.epochs, cfg.lr, cfg.bs, list(cfg.channels), run.seed)
        oofs.append(naive_frame(learn.dls.valid.items['eeg_id'], naive_probs(learn, tta=cfg.tta)).assign(fold=k))
        probs = probs + naive_probs(learn, hms_test_dl(learn.dls, run.test.table, run.test), cfg.tta) / len(folds)
        paths.append(export_learner(learn, run.out_dir / name / f'fold{k}.pkl'))
    model = f'{cfg.arch} frozen · CategoryBlock + CE · vocab columns · {cfg.epochs} ep'
    return _Result(pd.concat(oofs, ignore_index=True), naive_frame(run.test.table['eeg_id'], probs), model, len(folds),
                   _n_params(learn.model), time.perf_counter() - t0, paths)


_RUNNERS = {ImageConfig: _run_image, EnsembleConfig: _run_ensemble, TabularConfig: _run_tabular, NaiveConfig: _run_naive}


def _runner(cfg: ExperimentConfig):
    """The function that runs a config of this type."""
    for kind, f in _RUNNERS.items():
        if isinstance(cfg, kind): return f
    raise TypeError(f'no runner for {type(cfg).__name__}; configs are {[k.__name__ for k in _RUNNERS]}')


def _parts(cfg: ExperimentConfig) -> set:
    """The store halves ('spec', 'eeg') a config reads."""
    if isinstance(cfg, TabularConfig): return {'spec'}
    if isinstance(cfg, EnsembleConfig): return set().union(*map(_parts, cfg.members))
    return {c.split('_')[0] for c in cfg.channels}


def _effective(name: str, cfg: ExperimentConfig, epochs, epochs2, bs, arch) -> ExperimentConfig:
    """`cfg` with the run's overrides: (stage-1) epochs (an int, or a dict name → int), stage-2 epochs of image
    configs, batch size, architecture (tests only)."""
    if isinstance(cfg, EnsembleConfig):
        return replace(cfg, members=tuple(_effective(name, m, epochs, epochs2, bs, arch) for m in cfg.members))
    e = epochs.get(name) if isinstance(epochs, dict) else epochs
    changes = {k: v for k, v in (('epochs', e), ('bs', bs)) if v is not None}
    if epochs2 is not None and hasattr(cfg, 'epochs2'): changes['epochs2'] = epochs2
    if arch is not None and hasattr(cfg, 'arch'): changes['arch'] = arch
    return replace(cfg, **changes)


def _select(configs: dict, only, epochs) -> list[str]:
    """Names of the configs to run, in registry order (HMSDataError naming any unknown name)."""
    unknown = [n for n in (only or []) if n not in configs and n not in REFERENCES]
    if unknown: raise HMSDataError('only', f'unknown config(s) {unknown}; known: {[*REFERENCES, *configs]}')
    if isinstance(epochs, dict) and set(epochs) - set(configs):
        raise HMSDataError('epochs', f'unknown config(s) {sorted(set(epochs) - set(configs))}; known: {list(configs)}')
    return [n for n in configs if only is None or n in only]


def _record(name: str, cfg: ExperimentConfig | None, r: _Result, run: _Run, test_ids, solution) -> dict:
    """Write the config's oof.csv, submission.csv (and learners.txt); score it; return its results row."""
    folder = run.out_dir / name
    p = r.oof[TARGETS].to_numpy(np.float64)
    oof = r.oof.assign(**dict(zip(TARGETS, (p / p.sum(1, keepdims=True)).T)))   # as write_submission does for the test
    with atomic_path(folder / 'oof.csv') as tmp: oof.to_csv(tmp, index=False)
    sub = write_submission(r.test['eeg_id'], r.test[TARGETS].to_numpy(), folder / 'submission.csv', test_ids)
    if r.paths:
        with atomic_path(folder / 'learners.txt') as tmp: tmp.write_text(''.join(f'{p}\n' for p in r.paths))
    scores = oof_scores(run.table, oof)
    row = {'config': name, 'model': r.model, 'cv_kl': scores['kl'], 'cv_kl_expert': scores['kl_expert']}
    if solution is not None: row['test_kl'] = kaggle_score(solution, sub)
    return {**row, 'learners': r.learners, 'params': r.params, 'wall_s': r.wall_s,
            'original_lb': REFERENCES[name][1] if cfg is None else cfg.lb}


_FORMATS = {'cv_kl': '{:.4f}', 'cv_kl_expert': '{:.4f}', 'test_kl': '{:.4f}', 'learners': '{:.0f}', 'params': '{:,.0f}',
            'wall_s': '{:.1f}', 'original_lb': '{:.2f}'}


def results_markdown(table: pd.DataFrame, notes=()) -> str:
    """The results table as a markdown table (empty cells for missing values), then `notes` as a list."""
    def cell(c, v): return '' if pd.isna(v) else _FORMATS.get(c, '{}').format(v)
    lines = ['| ' + ' | '.join(table.columns) + ' |', '|' + '|'.join('---' for _ in table.columns) + '|']
    lines += ['| ' + ' | '.join(cell(c, v) for c, v in zip(table.columns, row)) + ' |' for row in table.itertuples(index=False)]
    return '\n'.join(lines + ([''] + [f'- {n}' for n in notes] if notes else [])) + '\n'


def _write_results(rows: list[dict], out_dir: Path, notes) -> pd.DataFrame:
    """results.csv and results.md of the rows so far, sorted by CV KL, written atomically; return the table."""
    table = pd.DataFrame(rows).sort_values('cv_kl', kind='stable').reset_index(drop=True)
    with atomic_path(out_dir / 'results.csv') as tmp: table.to_csv(tmp, index=False)
    with atomic_path(out_dir / 'results.md') as tmp: tmp.write_text(results_markdown(table, notes))
    return table


def _notes(chosen: dict) -> list[str]:
    """Footnotes of the table: for a negative control, each mistake and the package default that prevents it."""
    naive = [n for n, c in chosen.items() if isinstance(c, NaiveConfig)]
    return [f'{", ".join(naive)} (negative control) — {m}; prevented by {fix}' for m, fix in MISTAKES] if naive else []


def run_experiments(data_root, cache_dir, out_dir, only=None, n_folds: int = 5, epochs: int | dict | None = None,
                    epochs2: int | None = None, bs: int | None = None, seed: int = 0, arch_override: str | None = None,
                    configs: dict | None = None) -> pd.DataFrame:
    """Train the configs (all, or `only` these) on one fold assignment; score OOF (and test); write results.csv/.md."""
    # epochs/epochs2/bs override every config's defaults (epochs may be a dict name → epochs; epochs2=0 makes image
    # configs one-stage); arch_override replaces every
    # timm architecture, for tiny test runs only (the registry keeps the real ones); configs defaults to CONFIGS.
    configs = CONFIGS if configs is None else configs
    chosen = {n: _effective(n, configs[n], epochs, epochs2, bs, arch_override) for n in _select(configs, only, epochs)}
    need = set().union(*map(_parts, chosen.values()))
    parts = tuple(p for p in PARTS if p in need) or ('spec',)
    train, test = prepare(data_root, cache_dir, 'train', parts), prepare(data_root, cache_dir, 'test', parts)
    run = _Run(Path(data_root), Path(cache_dir), Path(out_dir), train, test, add_folds(train.table, n_folds, seed), seed)
    test_ids = load_competition(data_root, train=False).test['eeg_id']
    sol = Path(data_root) / 'test_solution.csv'
    solution = read_csv(sol, ['eeg_id', *TARGETS]) if sol.is_file() else None
    rows, notes = [], _notes(chosen)
    for name in [*REFERENCES, *chosen]:
        cfg = chosen.get(name)
        print(f'[experiments] {name}', flush=True)
        result = _reference(name, run) if cfg is None else _runner(cfg)(name, cfg, run)
        rows.append(_record(name, cfg, result, run, test_ids, solution))
        table = _write_results(rows, run.out_dir, notes)
    return table
