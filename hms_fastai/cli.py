"""hms-fastai: fastai experiments for Kaggle's HMS Harmful Brain Activity Classification, from the competition folder to
an honest cross-validation score and an offline submission.

examples:
  hms-fastai demo --quick                                   # synthetic data → train → submission → scores, in minutes
  hms-fastai check --data /kaggle/input/hms-harmful-brain-activity-classification
  hms-fastai train --data DATA --cache cache --out run1 --arch resnet34d --epochs 8
  hms-fastai predict --data DATA --cache cache --models run1 --out submission.csv
  hms-fastai score --solution test_solution.csv --submission submission.csv
  hms-fastai tune --data DATA --cache cache --out sweep --space space.toml --folds-used 0 --n-trials 12   # on each worker
  hms-fastai runs sweep exp --sort cv_kl_expert --plot curves.png

A user's error (a bad file, id or argument) prints one line naming it and exits with code 2; nothing is half-written.
"""
import argparse
import math
import os
import sys
from dataclasses import fields
from pathlib import Path

from .core.constants import DEFAULT_TEST_WINDOWS, EEG_RATE, EEG_WINDOW, PARTS, TARGETS, TEST_STRIDE, TEST_WINDOWS
from .core.errors import HMSDataError
from .core.train_args import SEED, TrainArgs, check_arg
from .core.version import __version__

__all__ = ['main', 'parser', 'usage_text']

_FIELDS = {f.name: f for f in fields(TrainArgs)}
_MIN_DEMO_EEGS = 150           # enough expert eegs for a second stage at batch size 32 (a third of eegs are expert)


def _int(low: int):
    """argparse type: an integer of at least `low`."""
    def parse(text: str) -> int:
        try: v = int(text)
        except ValueError: raise argparse.ArgumentTypeError(f'expected an integer, got {text!r}') from None
        if v < low: raise argparse.ArgumentTypeError(f'must be at least {low}, got {v}')
        return v
    return parse


def _float(low: float, high: float = math.inf, open_low: bool = False):
    """argparse type: a finite number of at least `low` (more than it with `open_low`) and at most `high`."""
    def parse(text: str) -> float:
        try: v = float(text)
        except ValueError: raise argparse.ArgumentTypeError(f'expected a number, got {text!r}') from None
        if not math.isfinite(v): raise argparse.ArgumentTypeError(f'expected a finite number, got {text}')
        if v < low or (open_low and v == low) or v > high:
            bound = f'in {"(" if open_low else "["}{low:g}, {high:g}]' if high < math.inf else f'at least {low:g}'
            raise argparse.ArgumentTypeError(f'must be {bound}, got {text}')
        return v
    return parse


def _parts(text: str) -> tuple:
    """argparse type: --parts, a comma list of 'spec' and 'eeg'."""
    parts = tuple(p.strip() for p in text.split(','))
    if not set(parts) <= set(PARTS): raise argparse.ArgumentTypeError(f"expected 'spec', 'eeg' or 'spec,eeg', got {text!r}")
    return parts


def _field_type(name: str):
    """argparse type of a TrainArgs field: parsed from text, then held to the field's rule (one-line usage errors)."""
    admits = {t for t in getattr(_FIELDS[name].type, '__args__', (_FIELDS[name].type,)) if t is not type(None)}
    def parse(text: str):
        if tuple[int, ...] in admits: value = [int(v) for v in text.split(',')] if text.replace(',', '').isdigit() else text
        elif int in admits and bool not in admits:
            try: value = int(text)
            except ValueError: raise argparse.ArgumentTypeError(f'expected an integer, got {text!r}') from None
        elif float in admits:
            try: value = float(text)
            except ValueError: raise argparse.ArgumentTypeError(f'expected a number, got {text!r}') from None
        else: value = text
        try: return check_arg(name, value)
        except HMSDataError as e: raise argparse.ArgumentTypeError(e.what) from None
    return parse


class _Doc(str):
    """A TrainArgs field's help, looked up (fastcore's docments of the field comments) only when help is printed."""

    def __new__(cls, name: str, note: str = ''):   # note: said after the field's comment, e.g. where its default comes from
        doc = super().__new__(cls, name)
        doc.note = note
        return doc


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Help with each option's default shown, and TrainArgs fields described by their comments in the schema."""

    def _get_help_string(self, action) -> str:
        """The option's help, then its default unless it has none worth showing."""
        text = f'{_docs()[str(action.help)]} {action.help.note}'.strip() if isinstance(action.help, _Doc) else action.help
        shown = (action.default is not None and action.default is not False and action.default != argparse.SUPPRESS
                 and action.option_strings and '%(default)' not in text)
        return text + (' (default: %(default)s)' if shown else '')


def _docs() -> dict:
    """The field comments of TrainArgs (read once, by fastcore's docments)."""
    from fastcore.docments import docments
    if not hasattr(_docs, 'cache'): _docs.cache = {k: v or '' for k, v in docments(TrainArgs).items()}
    return _docs.cache


def _add_train_args(s, names=None, defaults: dict | None = None, notes: dict | None = None):
    """Options generated from TrainArgs fields (all, or `names`), with the schema's defaults (or `defaults`, and `notes`)."""
    for name in names or _FIELDS:
        f, flag = _FIELDS[name], '--' + name.replace('_', '-')
        default, doc = (defaults or {}).get(name, f.default), _Doc(name, (notes or {}).get(name, ''))
        if f.type is bool: s.add_argument(flag, dest=name, action='store_true', default=default, help=doc)
        else:
            choices = f.metadata.get('choices')
            s.add_argument(flag, dest=name, type=_field_type(name), default=default, help=doc,
                           metavar='{' + ','.join(choices) + '}' if choices else name.upper())
    if 'precision' in (names or _FIELDS):
        s.add_argument('--fp32', dest='precision', action='store_const', const='fp32', default=argparse.SUPPRESS,
                       help='shorthand for --precision fp32')


def _train_args(a, base: TrainArgs | None = None) -> TrainArgs:
    """The TrainArgs of parsed options (fields given as None keep `base`'s)."""
    given = {k: getattr(a, k) for k in _FIELDS if hasattr(a, k)}
    return (base or TrainArgs()).replace(**{k: v for k, v in given.items() if v is not None})


def _writable_parent(path: Path, name: str):
    """HMSDataError unless `path` could be created: its nearest existing ancestor is a writable folder."""
    parent = path.parent
    while not parent.exists(): parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK): raise HMSDataError(name, f'{path}: {parent} is not a writable folder')


def _out_folder(path: Path, name: str = '--out'):
    """HMSDataError unless `path` is (or can become) a folder."""
    if path.exists() and not path.is_dir(): raise HMSDataError(name, f'{path} is a file, not a folder')
    _writable_parent(path, name)


def _out_file(path: Path, name: str = '--out'):
    """HMSDataError unless `path` is (or can become) a file."""
    if path.is_dir(): raise HMSDataError(name, f'{path} is a folder, not a file')
    _writable_parent(path, name)


def _in_folder(path: Path, name: str):
    """HMSDataError unless `path` is an existing folder."""
    if not path.is_dir(): raise HMSDataError(name, f'{path}: no such folder')


def _synth(a):
    """Write a synthetic competition folder (Kaggle's layout, or MLE-bench's public/ and private/)."""
    from .competition.synth import make_synthetic
    _out_folder(a.out)
    out = make_synthetic(a.out, n_eegs=a.n_eegs, n_test=a.n_test, seed=a.seed, truth=a.truth, layout=a.layout, like=a.like,
                         scale=a.scale)
    where = f'{out}' if a.layout == 'kaggle' else f'{out / "public"} (answers in {out / "private"})'
    print(f'wrote synthetic competition data to {where}')


def _score(a):
    """Score a submission against a solution: which layout, then the score alone on the last line."""
    from .competition.io import read_csv
    from .competition.score import kaggle_score, score_layout
    sol = read_csv(a.solution, ['eeg_id'])
    score = kaggle_score(sol, read_csv(a.submission, ['eeg_id']), names=(a.solution, a.submission))
    if score_layout(sol) == 'eeg': print(f'layout: one row per eeg_id (Kaggle): mean KL over {len(sol)} eeg_ids')
    else: print(f'layout: one row per label row, eeg_ids repeat (MLE-bench): mean KL over {len(sol)} rows of '
                f'{sol.eeg_id.nunique()} eeg_ids, paired in file order within each eeg_id')
    print(f'{score:.6f}')


def _check(a):
    """Validate a competition folder (its train part, test part, or both)."""
    from .competition.check import check_competition
    comp = check_competition(a.data, deep=a.deep, split=a.split)
    parts = [] if comp.train is None else [f'{len(comp.train)} train rows, {comp.train.eeg_id.nunique()} train eegs']
    if comp.test is not None:
        n = comp.test.eeg_id.nunique()
        parts.append(f'{n} test eegs' if n == len(comp.test) else f'{len(comp.test)} test rows, {n} test eegs')
    print(f'{comp.root}: {", ".join(parts)}: ok')


def _prepare(a):
    """Build the signal store of a split."""
    from .signals.prepare import prepare
    _out_folder(a.cache, '--cache')
    st = prepare(a.data, a.cache, a.split, parts=a.parts, margin=a.margin, max_seconds=a.max_seconds)
    print(f'{st}: ready')


def _train(a):
    """Train one learner per fold, export each, print the OOF scores."""
    args = _train_args(a)
    _in_folder(a.data, '--data')
    _out_folder(a.cache, '--cache')
    _out_folder(a.out)
    from .learn.curves import TensorBoardFolds
    from .learn.launch import train_run
    from .learn.runs import LOGS
    cbs = [TensorBoardFolds(a.out / LOGS)] if a.log else []
    trained = train_run(a.data, a.cache, a.out, args, processes=a.processes, margin=a.margin, max_seconds=a.max_seconds, cbs=cbs)
    print(f'exported {len(trained.paths)} learners to {a.out}; out-of-fold predictions in {Path(a.out) / "oof.csv"}')
    print(f'OOF KL (all rows):    {trained.scores["kl"]:.4f}')
    print(f'OOF KL (expert rows): {trained.scores["kl_expert"]:.4f}')
    print(f'OOF KL (label rows):  {trained.scores["kl_rows"]:.4f}')


def _predict(a):
    """Predict the test set with the exported learners of run folders (blended or equal) and write the submission."""
    _in_folder(a.data, '--data')
    _out_folder(a.cache, '--cache')
    _out_file(a.out)
    missing = [str(m) for m in a.models if not m.exists()]
    if missing: raise HMSDataError('--models', f'{", ".join(missing)}: no such folder or file')
    if a.weights is not None and not a.weights.is_file(): raise HMSDataError('--weights', f'{a.weights}: no such file')
    from .learn.infer import submit
    sub = submit(a.models, a.data, a.cache, a.out, tta=not a.no_tta, weights=a.weights, bs=a.bs, trust_pickle=a.trust_pickle,
                 precision=a.precision, test_windows=a.test_windows)
    print(f'wrote {a.out}: {len(sub)} rows')


def _blend(a):
    """Fit ensemble weights on the OOF predictions of run folders; write them and print the OOF KLs."""
    _out_file(a.out)
    from .competition.blend import check_oof, fit_blend, write_blend
    from .competition.io import load_competition, read_csv
    from .competition.meta import eeg_table
    comp = load_competition(a.data, check_files=False, test=False)
    oofs = {str(p.parent): check_oof(read_csv(p, ['eeg_id', 'fold', *TARGETS]), p) for p in a.oof}
    if len(oofs) != len(a.oof): raise HMSDataError('OOF', 'two OOF files in one run folder: give one oof.csv per run')
    blend = fit_blend(oofs, eeg_table(comp.train, comp.root / 'train.csv'), a.on)
    write_blend(blend, a.out)
    for name, w in blend.weights.items(): print(f'{w:.4f}  {name}')
    print(f'OOF KL on {a.on} rows: fitted {blend.kl:.4f}, held out (fold by fold) {blend.kl_heldout:.4f}, equal weights {blend.kl_equal:.4f}')


def _wheelhouse(a):
    """Collect the offline wheels: the package's and its dependencies' bar torch/torchvision."""
    _out_folder(a.out)
    from .wheelhouse import build_wheelhouse
    wheels = build_wheelhouse(a.out, a.source)
    print(f'wrote {len(wheels)} wheels ({sum(w.stat().st_size for w in wheels) / 1e6:.0f} MB) to {a.out}; on Kaggle, offline: '
          f'pip install --no-index --find-links {a.out} hms_fastai')


def _demo(a):
    """Run the demo end to end and print its score table."""
    from .demo import DEMO, QUICK
    base = QUICK if a.quick else DEMO
    args = _train_args(a, base.args)
    n_eegs, n_test = a.n_eegs or base.n_eegs, a.n_test or base.n_test
    if args.epochs2 and n_eegs < _MIN_DEMO_EEGS:
        raise HMSDataError('--n-eegs', f'{n_eegs} eegs have too few expert rows for a second stage: use ≥ {_MIN_DEMO_EEGS} or --epochs2 0')
    _out_folder(a.out)
    if (a.out / 'data').exists() and not (a.out / 'data' / 'test_oracle.csv').is_file():
        raise HMSDataError('--out', f'{a.out / "data"} holds files that are not the demo\'s synthetic data: use another --out')
    from .learn.kinds import get_kind
    kind = get_kind(args.kind)
    kind.check_body(args.arch or kind.arch, len(kind.input_channels(args.channels)))
    from .demo import run_demo
    run_demo(a.out, n_eegs=n_eegs, n_test=n_test, args=args)


def _compare(a):
    """Compare two submissions (and score both against a solution); print the report."""
    if a.plot: _out_file(a.plot, '--plot')
    from .competition.compare import compare_submissions
    c = compare_submissions(a.a_csv, a.b_csv, solution=a.solution, top=a.top)
    print(c.report())
    if a.plot: c.plot(a.plot)


def _experiments(a):
    """Train the named configs on one fold assignment and print the results table."""
    _in_folder(a.data, '--data')
    _out_folder(a.cache, '--cache')
    _out_folder(a.out)
    configs = None
    if a.config is not None:
        from .experiments.config_files import read_configs
        configs = read_configs(a.config)
    from .experiments.runners import run_experiments
    overrides = {k: getattr(a, k) for k in _OVERRIDES if getattr(a, k) is not None}
    run_experiments(a.data, a.cache, a.out, only=a.only, n_folds=a.folds, seed=a.seed, configs=configs, **overrides)
    print((a.out / 'results.md').read_text(), end='')


_OVERRIDES = ('epochs', 'epochs2', 'bs', 'windows', 'jitter', 'precision')   # experiments: every config's, when given


def _tune(a):
    """Run this process's share of an Optuna study over a search space; print the study and its best trial's folder."""
    from .experiments.search_space import read_space
    space = read_space(a.space).with_fixed('the command line', **{k: getattr(a, k) for k in _TUNE_FIXED})
    _in_folder(a.data, '--data')
    _out_folder(a.cache, '--cache')
    _out_folder(a.out)
    from .experiments.tune import tune
    tune(a.data, a.cache, a.out, space, study=a.study, storage=a.storage, n_trials=a.n_trials, timeout=a.timeout, on=a.on,
         pruner=a.pruner, heartbeat=a.heartbeat, log=a.log)


_TUNE_FIXED = ('folds', 'folds_used', 'seed', 'precision')    # tune: fixed for every trial when given (else the space's)


def _runs(a):
    """Print the table of every run folder under the folders (Markdown or CSV); draw their fold learning curves."""
    if a.plot: _out_file(a.plot, '--plot')
    from .experiments.runs_table import plot_runs, runs_table, runs_text
    table = runs_table(a.folders, a.solution, a.sort)
    if a.plot: plot_runs(a.folders, a.plot)
    print(runs_text(table, a.format), end='')


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors on one line (and exit code 2, as argparse has)."""

    def error(self, message: str):
        """Print `prog: error: message` alone and exit 2."""
        self.exit(2, f'{self.prog}: error: {message}\n')


def _store_args(s, margin: float | None = None):
    """What the signal store keeps: jitter room (default `margin`; None: the run's jitter) and an EEG cap per eeg."""
    s.add_argument('--margin', type=_float(0), default=margin,
                   help='seconds of signal kept beyond the label windows' + (' (default: the jitter)' if margin is None else ''))
    s.add_argument('--max-seconds', type=_float(EEG_WINDOW / EEG_RATE),
                   help='at most this much EEG per eeg (≥ 50): the label windows nearest the centre')


def _log_arg(s, where: str):
    """--log tensorboard: every fit's curves live through fastai's TensorBoardCallback, a folder per fold under `where`."""
    s.add_argument('--log', choices=['tensorboard'], help=f"also log every fit live to {where}/tensorboard/fold{{k}}/fit{{n}} "
                                                          "(fastai's TensorBoardCallback; pip install 'hms_fastai[tensorboard]')")


def _command(sub, name: str, about: str, func):
    """A subcommand whose one-line description shows in the top-level help and atop its own."""
    s = sub.add_parser(name, help=about, description=about, formatter_class=_Formatter)
    s.set_defaults(func=func)
    return s


def parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand (its train options generated from TrainArgs)."""
    p = _Parser(prog='hms-fastai', description=__doc__, formatter_class=_Formatter)
    p.add_argument('--version', action='version', version=f'hms-fastai {__version__}')
    sub = p.add_subparsers(dest='command', parser_class=_Parser, metavar='COMMAND')

    s = _command(sub, 'demo', 'synthetic data → signal store → train → TTA submission → score table, results kept', _demo)
    from .demo import DEMO, QUICK
    s.add_argument('--out', type=Path, default=Path('demo'), help='working folder (data, cache, model, submission, results)')
    s.add_argument('--quick', action='store_true', help='a small preset that finishes in a few minutes on 2 CPU cores')
    s.add_argument('--n-eegs', type=_int(20), help=f'synthetic train eegs (default: {DEMO.n_eegs}; --quick: {QUICK.n_eegs})')
    s.add_argument('--n-test', type=_int(1), help=f'synthetic test eegs (default: {DEMO.n_test}; --quick: {QUICK.n_test})')
    preset = ('epochs', 'epochs2', 'lr', 'bs', 'seed')
    _add_train_args(s, ['arch', *preset, 'windows', 'jitter', 'precision'], {'arch': DEMO.args.arch, 'windows': DEMO.args.windows, **dict.fromkeys(preset)},
                    {k: f'(default: {getattr(DEMO.args, k)}; --quick: {getattr(QUICK.args, k)})' for k in preset})

    s = _command(sub, 'synth', 'write a competition-format synthetic folder whose true probabilities are known', _synth)
    s.add_argument('--out', type=Path, required=True, help='folder to write the competition files into (empty, or a previous output)')
    s.add_argument('--n-eegs', type=_int(1), help='train eeg_ids (default 200; --like competition sets it)')
    s.add_argument('--n-test', type=_int(1), help="test eeg_ids of the Kaggle layout (default 50; MLE-bench's is 10 %% of the spectrograms)")
    s.add_argument('--seed', type=_int(0), default=SEED, help='the generator seed (same seed, same bytes)')
    s.add_argument('--truth', choices=['eeg', 'window'], default='eeg',
                   help="'eeg': one latent pattern per eeg, its votes on all its rows; 'window': the pattern changes in time, "
                        "each label row is voted from its own window (test_oracle.csv: each test row's window truth)")
    s.add_argument('--layout', choices=['kaggle', 'mlebench'], default='kaggle',
                   help="'kaggle': the competition folder; 'mlebench': MLE-bench's split of its train part (public/, private/)")
    s.add_argument('--like', choices=['competition'], help="the real train split's counts and shapes (17,089 eegs × --scale)")
    s.add_argument('--scale', type=_float(0, 1, open_low=True), default=1.0, help='with --like competition: the fraction of the real counts')

    s = _command(sub, 'check', 'validate a competition folder: its tables and files (--deep reads every parquet)', _check)
    s.add_argument('--data', type=Path, required=True, help='competition folder')
    s.add_argument('--deep', action='store_true', help='read and validate every referenced parquet file')
    s.add_argument('--split', choices=['all', 'train', 'test'], default='all',
                   help='check the train part (train.csv, train_*), the test part (test.csv, sample_submission.csv, test_*), or both')

    s = _command(sub, 'prepare', 'read every parquet of a split once into the memory-mapped signal store', _prepare)
    s.add_argument('--data', type=Path, required=True, help='competition folder (may be read-only)')
    s.add_argument('--cache', type=Path, required=True, help='cache folder (a complete one may be read-only)')
    s.add_argument('--split', choices=['train', 'test'], default='train', help='which split to store')
    s.add_argument('--parts', type=_parts, default=PARTS, help="'spec', 'eeg' or 'spec,eeg' (the 4-channel variants need one)")
    _store_args(s, 0.0)

    s = _command(sub, 'train', 'train one learner per fold, export each, print the OOF scores (a killed run resumes)', _train)
    s.add_argument('--data', type=Path, required=True, help='competition folder')
    s.add_argument('--cache', type=Path, required=True, help='signal store folder (prepared here if needed)')
    s.add_argument('--out', type=Path, required=True, help='run folder: fold{k} exports, oof.csv, models.json (the same run resumes)')
    _add_train_args(s)
    s.add_argument('--processes', type=_int(1), default=1, help='train on N processes (one per GPU, or CPU cores) through accelerate')
    _store_args(s)
    _log_arg(s, 'OUT')

    s = _command(sub, 'predict', 'exported learners → TTA ensemble → submission.csv', _predict)
    s.add_argument('--data', type=Path, required=True, help='competition folder (test.csv, test_eegs, test_spectrograms)')
    s.add_argument('--cache', type=Path, required=True, help='signal store folder for the test split')
    s.add_argument('--models', type=Path, nargs='+', required=True, help='finished train folders (their models.json), or exports (.json)')
    s.add_argument('--weights', type=Path, help='a blend file (hms-fastai blend) weighing the --models folders (default: equal)')
    s.add_argument('--out', type=Path, default=Path('submission.csv'), help='the submission file to write')
    s.add_argument('--no-tta', action='store_true', help='skip the hemisphere-flip test-time augmentation')
    s.add_argument('--bs', type=_int(1), help="inference batch size (default: each learner's validation batch size)")
    s.add_argument('--trust-pickle', action='store_true', help='load the .pkl exports (unpickling runs their code) instead of '
                                                                'the weights-only .safetensors + .json')
    _add_train_args(s, ['precision'])
    s.add_argument('--test-windows', choices=TEST_WINDOWS, default=DEFAULT_TEST_WINDOWS,
                   help=f"when test.csv gives no offsets: 'all' averages each eeg over its 50 s windows every {TEST_STRIDE} s, "
                        f"'centre' takes its EEG's middle 50 s (a 50 s test EEG: the same); rows with offsets use their own")

    s = _command(sub, 'score', 'the competition KL of a submission against a solution (the score alone on the last line)', _score)
    s.add_argument('--solution', type=Path, required=True,
                   help='csv: eeg_id + the 6 vote columns (counts or probabilities); eeg_ids repeat in a per-row (MLE-bench) solution')
    s.add_argument('--submission', type=Path, required=True, help='csv: eeg_id + the 6 probability columns, one row per solution row')

    s = _command(sub, 'compare', 'compare two submissions: class means, KL both ways, agreement, biggest differences', _compare)
    s.add_argument('a_csv', metavar='A', type=Path, help='csv: eeg_id + the 6 probability columns (A)')
    s.add_argument('b_csv', metavar='B', type=Path, help='csv: the same eeg_ids (B)')
    s.add_argument('--solution', type=Path, help='csv: eeg_id + the 6 vote columns; adds both scores and per-class contributions')
    s.add_argument('--plot', type=Path, help='write the comparison figure to this PNG')
    s.add_argument('--top', type=_int(0), default=10, help='how many most-different eeg_ids to list')

    s = _command(sub, 'blend', 'fit ensemble weights on out-of-fold predictions (non-negative, sum 1), with a held-out check', _blend)
    s.add_argument('oof', metavar='OOF', type=Path, nargs='+', help="runs' oof.csv files (a run folder each)")
    s.add_argument('--data', type=Path, required=True, help='competition folder (train.csv: the votes)')
    s.add_argument('--out', type=Path, required=True, help='blend file (JSON) for predict --weights')
    s.add_argument('--on', choices=['expert', 'all'], default='expert', help='fit on expert rows (like the test) or all')

    s = _command(sub, 'experiments', "the log's systems as named configs on the same folds → one results table", _experiments)
    from .experiments.configs import CONFIGS, REFERENCES
    s.add_argument('--data', type=Path, required=True, help='competition folder (test_solution.csv adds a test KL column)')
    s.add_argument('--cache', type=Path, required=True, help='writable cache folder')
    s.add_argument('--out', type=Path, required=True, help='results.csv/.md, and a folder per config')
    s.add_argument('--only', nargs='+', metavar='NAME', help=f'configs to run (default: all; {" and ".join(REFERENCES)} always): '
                                                             f'{", ".join(CONFIGS)}')
    s.add_argument('--config', type=Path, metavar='FILE.toml', help="named configs from a TOML file, in place of the registry: a "
                   "[name] table each, its type and fields (the registry in this form: python -c 'import hms_fastai as h; "
                   "print(h.configs_toml(h.CONFIGS))')")
    s.add_argument('--folds', type=_field_type('folds'), default=TrainArgs.folds, help=_Doc('folds'))
    s.add_argument('--seed', type=_field_type('seed'), default=TrainArgs.seed, help=_Doc('seed'))
    _add_train_args(s, list(_OVERRIDES), dict.fromkeys(_OVERRIDES), dict.fromkeys(_OVERRIDES, "(default: each config's own)"))

    s = _command(sub, 'tune', 'hyper-parameter search on Optuna: trials of a search space, each a run folder, pruned epoch by '
                              'epoch; the same command on more processes or machines shares the study', _tune)
    s.add_argument('--data', type=Path, required=True, help='competition folder')
    s.add_argument('--cache', type=Path, required=True, help='signal store folder (prepared by the first trial if needed)')
    s.add_argument('--out', type=Path, required=True, help='study folder: a run folder per trial (trials/NNN), study.db, study.csv, '
                                                           'history/intermediate/importances PNGs')
    s.add_argument('--space', type=Path, required=True, metavar='FILE.toml',
                   help='search space: [fixed] training arguments, [search] ranges {low, high[, log][, step]} or lists of choices')
    s.add_argument('--study', default='hms', help='study name in the storage (the same command again resumes it)')
    s.add_argument('--storage', metavar='URL', help='a database URL Optuna accepts, shared by every worker, e.g. '
                                                    'postgresql://user:pw@host/db (default: sqlite:///OUT/study.db)')
    s.add_argument('--n-trials', type=_int(1), default=20, help="the study's trials in all, complete or pruned, over all its workers")
    s.add_argument('--timeout', type=_float(1), metavar='S', help='start no new trial after S seconds of this worker')
    s.add_argument('--on', choices=['expert', 'all'], default='expert', help='the objective: OOF KL on expert rows (like the test) '
                                                                              'or on all rows')
    s.add_argument('--pruner', choices=['median', 'none'], default='median',
                   help="median: stop a trial whose best epoch so far is worse than the other trials' median at that epoch "
                        "(from its third epoch, once 5 trials finished)")
    s.add_argument('--heartbeat', type=_int(1), default=60, metavar='S',
                   help="seconds between a running trial's heartbeats: one silent for 3 is marked failed by the other workers")
    _log_arg(s, 'OUT/trials/NNN')
    _add_train_args(s, list(_TUNE_FIXED), dict.fromkeys(_TUNE_FIXED), dict.fromkeys(_TUNE_FIXED, "(fixed for every trial; default: "
                                                                                                  "the space's)"))

    s = _command(sub, 'runs', 'one table of every run folder under the folders: differing arguments, CV/test KL, cost, version; '
                              '--plot their fold learning curves', _runs)
    s.add_argument('folders', metavar='DIR', type=Path, nargs='+', help='folders holding run folders at any depth (train, '
                                                                        'experiments, tune outputs), or run folders')
    s.add_argument('--sort', default='cv_kl', metavar='COLUMN', help='the column to sort by, lower first, e.g. cv_kl_expert, wall_s, lr')
    s.add_argument('--format', choices=['markdown', 'csv'], default='markdown', help='print the table as Markdown or CSV')
    s.add_argument('--solution', type=Path, help="test_solution.csv: a test KL for the runs whose folder holds a submission.csv "
                                                 "(the experiments' configs)")
    s.add_argument('--plot', type=Path, metavar='FILE.png', help="write the runs' fold learning curves (a row per run) to this PNG")

    s = _command(sub, 'wheelhouse', 'wheels of the package and its dependencies (not torch/torchvision) for an offline install',
                 _wheelhouse)
    s.add_argument('--out', type=Path, required=True, help='folder for the wheels (upload it as a Kaggle dataset)')
    s.add_argument('--source', type=Path, help="the package's source checkout (default: the one this package runs from)")
    return p


def usage_text(width: int = 118) -> str:
    """Every subcommand's usage line, as README's command block shows it (a test keeps the two equal)."""
    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    lines = []
    for sub in commands.choices.values():
        formatter = argparse.HelpFormatter(sub.prog, width=width)
        formatter.add_usage(sub.usage, sub._actions, sub._mutually_exclusive_groups, prefix='')
        lines.append(formatter.format_help().strip())
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    """Run one subcommand (none: print the help); HMSDataError → one line on stderr and exit code 2."""
    p = parser()
    args = p.parse_args(argv)
    if args.command is None:
        p.print_help()
        return 0
    try: args.func(args)
    except HMSDataError as e:
        where = f'--{e.where.replace("_", "-")}' if e.where in _FIELDS or e.where == 'kind' else e.where
        print(f'hms-fastai {args.command}: error: {where}: {e.what}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__': sys.exit(main())
