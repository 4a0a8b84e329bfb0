"""The `hms-fastai` command: one entry, a subcommand per job; a user's error prints one line and exits 2.

Every argument is checked before any work (ranges by argparse types, paths and models by a check of the whole
request), so a refused command leaves no file behind.
"""
import argparse
import math
import os
import sys
from pathlib import Path

from .core.constants import CHANNELS, EEG_RATE, EEG_WINDOW, IMAGE_SHAPE, TARGETS
from .core.defaults import ARCH, BS, EPOCHS, EPOCHS2, LR, N_FOLDS, RAW_ARCH, SEED
from .core.errors import HMSDataError

__all__ = ['main']

_HALF_CHANNELS = {'all': CHANNELS, 'spec': CHANNELS[:4], 'eeg': CHANNELS[4:]}
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
    """argparse type: a finite number in [low, high] (or (low, high] with `open_low`)."""
    def parse(text: str) -> float:
        try: v = float(text)
        except ValueError: raise argparse.ArgumentTypeError(f'expected a number, got {text!r}') from None
        if not math.isfinite(v) or v < low or (open_low and v == low) or v > high:
            raise argparse.ArgumentTypeError(f'must be in {"(" if open_low else "["}{low:g}, {high:g}], got {text}')
        return v
    return parse


def _parts(text: str) -> tuple:
    """argparse type: --parts, a comma list of 'spec' and 'eeg'."""
    parts = tuple(p.strip() for p in text.split(','))
    if not parts or not set(parts) <= {'spec', 'eeg'}: raise argparse.ArgumentTypeError(f"expected 'spec', 'eeg' or 'spec,eeg', got {text!r}")
    return parts


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


def _check_model(a, n_in: int):
    """--arch is a timm model that takes n_in × 128 × 256 images (or a raw-EEG body); --pretrained is a weights file."""
    if getattr(a, 'kind', 'image') == 'signal':
        from .learn.raw import RAW_ARCHS
        if a.arch not in RAW_ARCHS: raise HMSDataError('--arch', f'{a.arch!r} is not a raw-EEG body: one of {list(RAW_ARCHS)}')
        if a.pretrained.lower() != 'none' or a.channels != 'all':
            raise HMSDataError('--kind', 'a raw-EEG learner reads all 16 chains and has no pretrained weights')
        return
    import timm
    import torch
    if not timm.is_model(a.arch): raise HMSDataError('--arch', f'{a.arch!r} is not a timm model (e.g. resnet34d, efficientnet_b0)')
    try:
        with torch.no_grad(): timm.create_model(a.arch, pretrained=False, in_chans=n_in).eval()(torch.zeros(1, n_in, *IMAGE_SHAPE))
    except Exception as e:
        raise HMSDataError('--arch', f'{a.arch} cannot take {n_in}×{IMAGE_SHAPE[0]}×{IMAGE_SHAPE[1]} images ({type(e).__name__}: {e})') from None
    if getattr(a, 'pretrained', 'none').lower() != 'none':
        from .learn.learner import check_weights
        check_weights(a.pretrained)


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
    a.arch = a.arch or (ARCH if a.kind == 'image' else RAW_ARCH)
    channels = _HALF_CHANNELS[a.channels]
    if a.n_in is not None and a.n_in != len(channels):
        raise HMSDataError('--n-in', f'{a.n_in} channels do not match --channels {a.channels} ({len(channels)})')
    _in_folder(a.data, '--data')
    _out_folder(a.cache, '--cache')
    _out_folder(a.out)
    if a.processes > 1:                  # no OpenMP threads in a parent that forks workers (GPUs): they would hang
        import torch
        torch.set_num_threads(1)
    _check_model(a, len(channels))
    from .competition.io import load_competition
    from .competition.meta import add_folds, eeg_table
    from .learn.recipes import check_run, train_folds
    from .signals.prepare import prepare
    comp = load_competition(a.data)
    table = add_folds(eeg_table(comp.train, comp.root / 'train.csv').sort_values('eeg_id').reset_index(drop=True), a.folds, seed=a.seed)
    kwargs = dict(kind=a.kind, arch=a.arch, epochs=a.epochs, epochs2=a.epochs2, bs=a.bs, lr=a.lr, mixup=a.mixup,
                  windows=a.windows, jitter=a.jitter, vote_weight=a.vote_weight, bf16=False if a.fp32 else None)
    if a.kind == 'image': kwargs |= dict(channels=channels, pretrained=False if a.pretrained.lower() == 'none' else a.pretrained)
    pseudo = None if a.pseudo is None else {'from': a.pseudo, 'below': a.pseudo_below, 'keep': a.pseudo_keep}
    if pseudo and not (a.pseudo / 'models.json').is_file(): raise HMSDataError('--pseudo', f'{a.pseudo}: not a finished train folder')
    check_run(table, a.out, seed=a.seed, **kwargs, **({'pseudo': pseudo} if pseudo else {}))   # another run's folder: refused now
    parts = ('eeg',) if a.kind == 'signal' else ('spec', 'eeg') if a.channels == 'all' else (a.channels,)
    if pseudo: parts = ('spec', 'eeg')                          # the first round's learners read the store too
    store_kwargs = dict(margin=a.margin, max_seconds=a.max_seconds)
    if a.processes > 1: trained = _train_distributed(a, table, parts, store_kwargs, pseudo, kwargs)
    else: trained = train_folds(table, prepare(comp, a.cache, 'train', parts=parts, **store_kwargs), a.out, seed=a.seed,
                                pseudo=pseudo, **kwargs)
    print(f'exported {len(trained.paths)} learners to {a.out}; out-of-fold predictions in {Path(a.out) / "oof.csv"}')
    print(f'OOF KL (all rows):    {trained.scores["kl"]:.4f}')
    print(f'OOF KL (expert rows): {trained.scores["kl_expert"]:.4f}')


def _train_distributed(a, table, parts, store_kwargs: dict, pseudo, kwargs: dict):
    """`train` on a.processes processes (nothing touches CUDA here: the workers do); the run folder's results."""
    import pandas as pd

    from .competition.score import oof_scores
    from .learn.launch import train_folds_distributed
    from .learn.recipes import TrainedFolds
    from .learn.runs import run_exports
    train_folds_distributed(a.data, a.cache, a.out, a.processes, n_folds=a.folds, seed=a.seed, parts=parts,
                            store_kwargs=store_kwargs, pseudo=pseudo, **kwargs)
    oof = pd.read_csv(a.out / 'oof.csv')
    return TrainedFolds(run_exports(a.out), oof, oof_scores(table, oof), 0)


def _predict(a):
    """Predict the test set with the exported learners of run folders (blended or equal) and write the submission."""
    _in_folder(a.data, '--data')
    _out_folder(a.cache, '--cache')
    _out_file(a.out)
    missing = [str(m) for m in a.models if not m.exists()]
    if missing: raise HMSDataError('--models', f'{", ".join(missing)}: no such folder or file')
    if a.weights is not None and not a.weights.is_file(): raise HMSDataError('--weights', f'{a.weights}: no such file')
    from .learn.infer import submit
    sub = submit(a.models, a.data, a.cache, a.out, tta=not a.no_tta, weights=a.weights, bs=a.bs, trust_pickle=a.trust_pickle)
    print(f'wrote {a.out}: {len(sub)} rows')


def _blend(a):
    """Fit ensemble weights on the OOF predictions of run folders; write them and print the OOF KLs."""
    _out_file(a.out)
    from .competition.blend import fit_blend, write_blend
    from .competition.io import load_competition, read_csv
    from .competition.meta import eeg_table
    comp = load_competition(a.data, check_files=False)
    oofs = {str(p.parent): read_csv(p, ['eeg_id', 'fold', *TARGETS]) for p in a.oof}
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
    if a.epochs2 and a.n_eegs < _MIN_DEMO_EEGS:
        raise HMSDataError('--n-eegs', f'{a.n_eegs} eegs have too few expert rows for a second stage: use ≥ {_MIN_DEMO_EEGS} or --epochs2 0')
    _out_folder(a.out)
    if (a.out / 'data').exists() and not (a.out / 'data' / 'test_oracle.csv').is_file():
        raise HMSDataError('--out', f'{a.out / "data"} holds files that are not the demo\'s synthetic data: use another --out')
    _check_model(a, len(CHANNELS))
    from .demo import run_demo
    run_demo(a.out, n_eegs=a.n_eegs, n_test=a.n_test, arch=a.arch, epochs=a.epochs, epochs2=a.epochs2, windows=a.windows,
             jitter=a.jitter, bf16=False if a.fp32 else None, seed=a.seed)


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
    from .experiments.runners import run_experiments
    run_experiments(a.data, a.cache, a.out, only=a.only, n_folds=a.folds, epochs=a.epochs, epochs2=a.epochs2, bs=a.bs,
                    windows=a.windows, jitter=a.jitter, bf16=False if a.fp32 else None, seed=a.seed)
    print((a.out / 'results.md').read_text(), end='')


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors on one line (and exit code 2, as argparse has)."""

    def error(self, message: str):
        """Print `prog: error: message` alone and exit 2."""
        self.exit(2, f'{self.prog}: error: {message}\n')


def _store_args(s):
    """What the signal store keeps: jitter room and an EEG cap per eeg."""
    s.add_argument('--margin', type=_float(0), default=0.0, help='seconds of signal kept beyond the label windows (room for --jitter)')
    s.add_argument('--max-seconds', type=_float(EEG_WINDOW / EEG_RATE),
                   help='at most this much EEG per eeg (≥ 50): the label windows nearest the centre')


def _window_args(s, override: bool = False):
    """Which training windows, their jitter, and the precision."""
    s.add_argument('--windows', choices=['random', 'centre'],
                   help='training windows: a random label window per eeg each epoch, or the centre one '
                        + ("(default: each config's own)" if override else '(default: random on a GPU, centre on CPU)'))
    s.add_argument('--jitter', type=_float(0), default=None if override else 0.0, help='move each training window by up to ± S seconds')
    s.add_argument('--fp32', action='store_true', help='no bf16 autocast and channels_last on CUDA')


def _parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    p = _Parser(prog='hms-fastai', description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='command', required=True, parser_class=_Parser)

    s = sub.add_parser('synth', help='write competition-format synthetic data with known true probabilities')
    s.add_argument('--out', type=Path, required=True, help='folder to write the competition files into (empty, or a previous output)')
    s.add_argument('--n-eegs', type=_int(1), help='train eeg_ids (default 200; --like competition sets it)')
    s.add_argument('--n-test', type=_int(1), help="test eeg_ids of the Kaggle layout (default 50; MLE-bench's is 10 %% of the spectrograms)")
    s.add_argument('--seed', type=_int(0), default=SEED)
    s.add_argument('--truth', choices=['eeg', 'window'], default='eeg',
                   help="'eeg': one latent pattern per eeg, its votes on all its rows; 'window': the pattern changes in time, "
                        "each label row is voted from its own window (test_oracle.csv: each test row's window truth)")
    s.add_argument('--layout', choices=['kaggle', 'mlebench'], default='kaggle',
                   help="'kaggle': the competition folder; 'mlebench': MLE-bench's split of its train part (public/, private/)")
    s.add_argument('--like', choices=['competition'], help="the real train split's counts and shapes (17,089 eegs × --scale)")
    s.add_argument('--scale', type=_float(0, 1, open_low=True), default=1.0, help='with --like competition: the fraction of the real counts')
    s.set_defaults(func=_synth)

    s = sub.add_parser('score', help='the competition KL score of a submission')
    s.add_argument('--solution', type=Path, required=True,
                   help='csv: eeg_id + the 6 vote columns (counts or probabilities); eeg_ids repeat in a per-row (MLE-bench) solution')
    s.add_argument('--submission', type=Path, required=True, help='csv: eeg_id + the 6 probability columns, one row per solution row')
    s.set_defaults(func=_score)

    s = sub.add_parser('check', help='validate a competition folder (tables, files; --deep reads every parquet)')
    s.add_argument('--data', type=Path, required=True, help='competition folder')
    s.add_argument('--deep', action='store_true', help='read and validate every referenced parquet file')
    s.add_argument('--split', choices=['all', 'train', 'test'], default='all',
                   help='check the train part (train.csv, train_*), the test part (test.csv, sample_submission.csv, test_*), or both')
    s.set_defaults(func=_check)

    s = sub.add_parser('prepare', help='read every parquet once into the memory-mapped signal store')
    s.add_argument('--data', type=Path, required=True, help='competition folder (may be read-only)')
    s.add_argument('--cache', type=Path, required=True, help='cache folder (a complete one may be read-only)')
    s.add_argument('--split', choices=['train', 'test'], default='train')
    s.add_argument('--parts', type=_parts, default=('spec', 'eeg'), help="'spec', 'eeg' or 'spec,eeg' (the 4-channel variants need one)")
    _store_args(s)
    s.set_defaults(func=_prepare)

    s = sub.add_parser('train', help='train one learner per fold, export each, print OOF scores (resumes a killed run)')
    s.add_argument('--data', type=Path, required=True, help='competition folder')
    s.add_argument('--cache', type=Path, required=True, help='signal store folder (prepared here if needed)')
    s.add_argument('--out', type=Path, required=True, help='run folder: fold{k} exports, oof.csv, models.json (the same run resumes)')
    s.add_argument('--kind', choices=['image', 'signal'], default='image', help='the 8-channel image, or the raw EEG chains')
    s.add_argument('--arch', help=f'a timm model for images (default {ARCH}), or xresnet1d18|34|50 for raw EEG (default {RAW_ARCH})')
    s.add_argument('--channels', choices=list(_HALF_CHANNELS), default='all', help='all 8, or the 4 spec / eeg channels')
    s.add_argument('--n-in', type=int, choices=[4, 8], help='input channels (must agree with --channels)')
    s.add_argument('--epochs', type=_int(1), default=EPOCHS, help='stage 1: epochs on all training rows')
    s.add_argument('--epochs2', type=_int(0), default=EPOCHS2, help='stage 2: epochs on expert training rows at lr/10 (0: one stage)')
    s.add_argument('--bs', type=_int(2), default=BS)
    s.add_argument('--lr', type=_float(0, 1, open_low=True), default=LR, help='one-cycle peak lr (from scratch; ~1e-3 with --pretrained)')
    s.add_argument('--folds', type=_int(2), default=N_FOLDS, help='patient-grouped folds')
    s.add_argument('--mixup', type=_float(0), default=0.0, help='soft-label MixUp alpha (0: off)')
    s.add_argument('--pretrained', default='none', help="a local timm weights file, or 'none'")
    s.add_argument('--vote-weight', action='store_true', help="stage 1 weighs each row's loss by its votes / 20")
    s.add_argument('--processes', type=_int(1), default=1, help='train on N processes (GPUs, or CPUs) through accelerate')
    s.add_argument('--pseudo', type=Path, help="a first round's train folder: a second round on its pseudo-labels")
    s.add_argument('--pseudo-below', type=_int(1), default=10, help='rows with fewer votes are pseudo-labelled')
    s.add_argument('--pseudo-keep', type=_float(0, 1), default=0.1, help='share of their own votes they keep')
    _window_args(s)
    _store_args(s)
    s.add_argument('--seed', type=_int(0), default=SEED)
    s.set_defaults(func=_train)

    s = sub.add_parser('predict', help='exported learners → TTA ensemble → submission.csv')
    s.add_argument('--data', type=Path, required=True, help='competition folder (test.csv, test_eegs, test_spectrograms)')
    s.add_argument('--cache', type=Path, required=True, help='signal store folder for the test split')
    s.add_argument('--models', type=Path, nargs='+', required=True, help='finished train folders (their models.json), or exports (.json)')
    s.add_argument('--weights', type=Path, help='a blend file (hms-fastai blend) weighing the --models folders (default: equal)')
    s.add_argument('--out', type=Path, default=Path('submission.csv'))
    s.add_argument('--no-tta', action='store_true', help='skip the hemisphere-flip test-time augmentation')
    s.add_argument('--bs', type=_int(1), help="inference batch size (default: each learner's validation batch size)")
    s.add_argument('--trust-pickle', action='store_true', help='load the .pkl exports (unpickling runs their code) instead of '
                                                                'the weights-only .safetensors + .json')
    s.set_defaults(func=_predict)

    s = sub.add_parser('wheelhouse', help="wheels of the package and its dependencies (not torch/torchvision) for an offline install")
    s.add_argument('--out', type=Path, required=True, help='folder for the wheels (upload it as a Kaggle dataset)')
    s.add_argument('--source', type=Path, help="the package's source checkout (default: the one this package runs from)")
    s.set_defaults(func=_wheelhouse)

    s = sub.add_parser('blend', help='fit ensemble weights on out-of-fold predictions (non-negative, sum 1), with a held-out check')
    s.add_argument('oof', metavar='OOF', type=Path, nargs='+', help="runs' oof.csv files (a run folder each)")
    s.add_argument('--data', type=Path, required=True, help='competition folder (train.csv: the votes)')
    s.add_argument('--out', type=Path, required=True, help='blend file (JSON) for predict --weights')
    s.add_argument('--on', choices=['expert', 'all'], default='expert', help='fit on expert rows (like the test) or all')
    s.set_defaults(func=_blend)

    s = sub.add_parser('demo', help='synthetic data → prepare → train → TTA submission → score table')
    s.add_argument('--out', type=Path, default=Path('demo'), help='working folder')
    s.add_argument('--n-eegs', type=_int(20), default=600)
    s.add_argument('--n-test', type=_int(1), default=150)
    s.add_argument('--arch', default='resnet18d', help='timm model name')
    s.add_argument('--epochs', type=_int(1), default=EPOCHS, help='stage 1: epochs on all training rows')
    s.add_argument('--epochs2', type=_int(0), default=EPOCHS2, help='stage 2: epochs on expert training rows (0: one stage)')
    _window_args(s)
    s.add_argument('--seed', type=_int(0), default=SEED)
    s.set_defaults(func=_demo)

    s = sub.add_parser('compare', help='compare two submissions: class means, KL both ways, argmax agreement, biggest differences')
    s.add_argument('a_csv', metavar='A', type=Path, help='csv: eeg_id + the 6 probability columns (A)')
    s.add_argument('b_csv', metavar='B', type=Path, help='csv: the same eeg_ids (B)')
    s.add_argument('--solution', type=Path, help='csv: eeg_id + the 6 vote columns; adds both scores and per-class contributions')
    s.add_argument('--plot', type=Path, help='write the comparison figure to this PNG')
    s.add_argument('--top', type=_int(0), default=10, help='how many most-different eeg_ids to list')
    s.set_defaults(func=_compare)

    s = sub.add_parser('experiments', help="the log's systems as named configs on the same folds → results table")
    s.add_argument('--data', type=Path, required=True, help='competition folder (test_solution.csv adds a test KL column)')
    s.add_argument('--cache', type=Path, required=True, help='writable cache folder')
    s.add_argument('--out', type=Path, required=True, help='results.csv/.md, and a folder per config')
    s.add_argument('--only', nargs='+', metavar='NAME', help='configs to run (default: all; prior and uniform always)')
    s.add_argument('--folds', type=_int(2), default=N_FOLDS)
    s.add_argument('--epochs', type=_int(1), help="every config's (stage-1) epochs (default: each config's own)")
    s.add_argument('--epochs2', type=_int(0), help="image configs' stage-2 epochs on expert rows (0: one stage)")
    s.add_argument('--bs', type=_int(2), help="every config's batch size (default: each config's own)")
    _window_args(s, override=True)
    s.add_argument('--seed', type=_int(0), default=SEED)
    s.set_defaults(func=_experiments)
    return p


def main(argv=None) -> int:
    """Run one subcommand; HMSDataError → one line on stderr and exit code 2."""
    args = _parser().parse_args(argv)
    try: args.func(args)
    except HMSDataError as e:
        print(f'hms-fastai {args.command}: error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__': sys.exit(main())
