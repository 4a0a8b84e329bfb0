"""The `hms-fastai` command: one entry, a subcommand per job; a user's error prints one line and exits 2."""
import argparse
import sys
from pathlib import Path

from .errors import HMSDataError

__all__ = ['main']


def _synth(a):
    """Write a synthetic competition folder."""
    from .synth import make_synthetic
    out = make_synthetic(a.out, n_eegs=a.n_eegs, n_test=a.n_test, seed=a.seed)
    print(f'wrote synthetic competition data to {out}')


def _score(a):
    """Score a submission against a solution; the score alone on the last line."""
    import pandas as pd
    from .io import read_csv
    from .score import kaggle_score
    print(f'{kaggle_score(read_csv(a.solution, ["eeg_id"]), read_csv(a.submission, ["eeg_id"])):.6f}')


def _check(a):
    """Validate a competition folder."""
    from .check import check_competition
    comp = check_competition(a.data, deep=a.deep)
    print(f'{comp.root}: {len(comp.train)} train rows, {comp.train.eeg_id.nunique()} train eegs, {len(comp.test)} test eegs: ok')


def _parts(text: str) -> tuple:
    """Parse --parts: a comma list of 'spec' and 'eeg'."""
    parts = tuple(p.strip() for p in text.split(','))
    if not parts or not set(parts) <= {'spec', 'eeg'}: raise argparse.ArgumentTypeError(f"expected 'spec', 'eeg' or 'spec,eeg', got {text!r}")
    return parts


def _prepare(a):
    """Build the signal store of a split."""
    from .store import prepare
    st = prepare(a.data, a.cache, a.split, parts=a.parts)
    print(f'{st}: ready')


def _demo(a):
    """Run the demo end to end and print its score table."""
    from .demo import run_demo
    run_demo(a.out, n_eegs=a.n_eegs, n_test=a.n_test, seed=a.seed)


def _parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    p = argparse.ArgumentParser(prog='hms-fastai', description=__doc__)
    sub = p.add_subparsers(dest='command', required=True)

    s = sub.add_parser('synth', help='write competition-format synthetic data with known true probabilities')
    s.add_argument('--out', type=Path, required=True, help='folder to write the competition files into')
    s.add_argument('--n-eegs', type=int, default=200, help='train eeg_ids')
    s.add_argument('--n-test', type=int, default=50, help='test eeg_ids')
    s.add_argument('--seed', type=int, default=0)
    s.set_defaults(func=_synth)

    s = sub.add_parser('score', help='the competition KL score of a submission')
    s.add_argument('--solution', type=Path, required=True, help='csv: eeg_id + the 6 vote columns')
    s.add_argument('--submission', type=Path, required=True, help='csv: eeg_id + the 6 probability columns')
    s.set_defaults(func=_score)

    s = sub.add_parser('check', help='validate a competition folder (tables, files; --deep reads every parquet)')
    s.add_argument('--data', type=Path, required=True, help='competition folder')
    s.add_argument('--deep', action='store_true', help='read and validate every referenced parquet file')
    s.set_defaults(func=_check)

    s = sub.add_parser('prepare', help='read every parquet once into the memory-mapped signal store')
    s.add_argument('--data', type=Path, required=True, help='competition folder (may be read-only)')
    s.add_argument('--cache', type=Path, required=True, help='writable cache folder')
    s.add_argument('--split', choices=['train', 'test'], default='train')
    s.add_argument('--parts', type=_parts, default=('spec', 'eeg'), help="'spec', 'eeg' or 'spec,eeg' (the 4-channel variants need one)")
    s.set_defaults(func=_prepare)

    s = sub.add_parser('demo', help='synthetic data → baselines (→ model) → score table')
    s.add_argument('--out', type=Path, default=Path('demo'), help='working folder')
    s.add_argument('--n-eegs', type=int, default=600)
    s.add_argument('--n-test', type=int, default=150)
    s.add_argument('--seed', type=int, default=0)
    s.set_defaults(func=_demo)
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
