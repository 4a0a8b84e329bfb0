"""Training windows, training targets and test windows on synthetic data with per-window truth: test KL side by side.

One synthetic competition (`synth --truth window`: the latent pattern changes in time, each label row is voted from its
own window) written in MLE-bench's layout (per-row test.csv, full-length test recordings, graded by
tests/mlebench_grader.py) and in Kaggle's (the same train.csv; 50 s test EEGs, one row each, scored against
test_solution.csv). Each configuration (training windows × targets) is one `hms-fastai train` on MLE-bench's train part
(the command is printed), then `hms-fastai predict` on MLE-bench's test (test windows centre and all) and on Kaggle's
test (one 50 s window per eeg: both choices are the same there); the sample submission (1/6) and the truth oracle
(test_oracle.csv) stand beside them. Run folders resume, so a killed bench picks up where it stopped.

    python bench/bench_windows.py --out /tmp/bench_windows    # 700 eegs, resnet18d, fold 0 of 3, 4 + 2 epochs
"""
import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd

from hms_fastai.competition.meta import EXPERT_VOTES
from hms_fastai.core.constants import TARGETS

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'tests'))          # the grader with MLE-bench's rules


def _run(argv: list[str]):
    """One CLI command, printed first; exit if it fails."""
    from hms_fastai.cli import main
    print('$ hms-fastai ' + ' '.join(argv), flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)          # the test-alignment warning, once per predict
        if main(argv) != 0: sys.exit(f'failed: {argv}')


def _oof(data: Path, run: Path, folds: int) -> dict:
    """The run's OOF scores: per eeg, expert eegs, and per label row (MLE-bench's weighing)."""
    from hms_fastai.competition.io import load_competition
    from hms_fastai.competition.meta import fold_table
    from hms_fastai.competition.score import oof_scores
    comp = load_competition(data, test=False)
    return oof_scores(fold_table(comp, folds), pd.read_csv(run / 'oof.csv'), comp.train)


def _test_kl(layout: str, root: Path, sub: pd.DataFrame) -> dict:
    """A submission's test KL: MLE-bench's grader (also on rows with ≥ 10 votes and the others), or Kaggle's score."""
    from hms_fastai.competition.score import kaggle_score
    if layout == 'kaggle': return {'test KL': kaggle_score(pd.read_csv(root / 'test_solution.csv'), sub)}
    from mlebench_grader import grade
    answers = pd.read_csv(root / 'private' / 'test.csv')
    many = (answers[TARGETS].sum(axis=1) >= EXPERT_VOTES).to_numpy()
    return {'test KL': grade(sub, answers), 'rows ≥ 10 votes': kaggle_score(answers[many], sub[many]),
            'rows < 10 votes': kaggle_score(answers[~many], sub[~many])}


def main(args):
    from hms_fastai.experiments.results import results_markdown
    out = Path(args.out)
    roots = {'mlebench': out / 'mlebench', 'kaggle': out / 'kaggle'}
    tests = {'mlebench': roots['mlebench'] / 'public', 'kaggle': roots['kaggle']}     # the folders predict reads
    for layout, root in roots.items():
        if not (tests[layout] / 'test.csv').is_file():
            _run(['synth', '--out', str(root), '--n-eegs', str(args.n_eegs), '--truth', 'window', '--layout', layout]
                 + (['--n-test', str(args.n_test)] if layout == 'kaggle' else []))
    rows = []
    for layout, data in tests.items():
        for name, sub in (('sample submission (1/6)', pd.read_csv(data / 'sample_submission.csv')),
                          ('truth oracle', pd.read_csv(data / 'test_oracle.csv'))):
            rows.append({'test layout': layout, 'system': name, **_test_kl(layout, roots[layout], sub)})
    for windows in args.windows:
        for targets in ('eeg', 'window'):
            run = out / f'run_{windows}_{targets}'
            _run(['train', '--data', str(tests['mlebench']), '--cache', str(out / 'cache_mlebench'), '--out', str(run),
                  '--arch', args.arch, '--folds', str(args.folds), '--folds-used', '0', '--epochs', str(args.epochs),
                  '--epochs2', str(args.epochs2), '--bs', str(args.bs), '--windows', windows, '--targets', targets])
            oof = _oof(tests['mlebench'], run, args.folds)
            for layout, data in tests.items():
                for test_windows in ('centre', 'all') if layout == 'mlebench' else ('centre',):
                    path = out / f'sub_{layout}_{windows}_{targets}_{test_windows}.csv'
                    if not path.is_file():                 # a bench run again reprints its table from what is there
                        _run(['predict', '--data', str(data), '--cache', str(out / f'cache_{layout}'), '--models', str(run),
                              '--out', str(path), '--test-windows', test_windows])
                    rows.append({'test layout': layout, 'system': f'windows={windows} targets={targets} test-windows={test_windows}',
                                 'OOF KL': oof['kl'], 'OOF KL expert': oof['kl_expert'], 'OOF KL label rows': oof['kl_rows'],
                                 **_test_kl(layout, roots[layout], pd.read_csv(path))})
            table = pd.DataFrame(rows).round(4)
            table.to_csv(out / 'results.csv', index=False)
            print(results_markdown(table), flush=True)


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', required=True, help='working folder (data, caches, runs, submissions, results.csv)')
    p.add_argument('--n-eegs', type=int, default=700, help='synthetic train eegs (MLE-bench moves about 10 %% of them to its test)')
    p.add_argument('--n-test', type=int, default=150, help="Kaggle layout's test eegs")
    p.add_argument('--arch', default='resnet18d')
    p.add_argument('--folds', type=int, default=3, help='folds of the fold table; fold 0 is trained (its OOF scores)')
    p.add_argument('--epochs', type=int, default=4)
    p.add_argument('--epochs2', type=int, default=2)
    p.add_argument('--bs', type=int, default=32)
    p.add_argument('--windows', nargs='+', default=['centre', 'random'], help='training windows to try')
    main(p.parse_args())
