"""The README's demo: synthetic competition → signal store → one fastai learner → TTA submission → scores, with its results,
history and pictures kept in the demo folder."""
import time
from pathlib import Path
from typing import NamedTuple

from .core.train_args import TrainArgs

__all__ = ['DemoPreset', 'DEMO', 'QUICK', 'score_table', 'run_demo']


class DemoPreset(NamedTuple):
    """How big a demo is: its synthetic train and test eegs and its training arguments."""
    args: TrainArgs
    n_eegs: int
    n_test: int


# resnet18d from scratch on centre windows: a CPU trains it in minutes. Random windows need more epochs than a CPU demo
# gives them (README: `demo --quick` with random windows on per-window truth scored 1.035, uniform 0.952).
DEMO = DemoPreset(TrainArgs(arch='resnet18d', windows='centre'), n_eegs=600, n_test=150)
QUICK = DemoPreset(DEMO.args.replace(epochs=5, epochs2=2), n_eegs=300, n_test=75)   # `demo --quick`

_NOTES = ['KL divergence of the true vote distributions from the predictions: lower is better; 0 is a perfect forecast.',
          'uniform 1/6 knows nothing; the train prior (the training rows\' mean votes) can score worse than uniform on the test, '
          'whose eegs all have 10+ votes (sharper truths than the many 1-3 vote training rows that shape the prior).',
          'oracle: the true probabilities the synthetic votes were drawn from: the best any model can expect.',
          'the validation KL of a body trained from scratch swings in the first epochs (BatchNorm statistics of a few hundred '
          'images at the one-cycle peak lr); the best epoch is kept, so the swings do not reach the submission.']


def score_table(solution, submissions: dict):
    """Kaggle KL of each named submission against `solution`, worst first."""
    import pandas as pd

    from .competition.score import kaggle_score
    rows = [(name, kaggle_score(solution, sub)) for name, sub in submissions.items()]
    return pd.DataFrame(rows, columns=['system', 'test KL']).sort_values('test KL', ascending=False).reset_index(drop=True)


def _step(msg: str, t0: float):
    """Print a progress line with the elapsed time."""
    print(f'[{time.perf_counter() - t0:6.1f}s] {msg}', flush=True)


def run_demo(out,                          # the demo folder: data, cache, models, submissions, results
             n_eegs: int = DEMO.n_eegs, n_test: int = DEMO.n_test,
             args: TrainArgs = DEMO.args):  # the training arguments (epochs, windows, precision …)
    """Synthetic data in `out` → prepare → two-stage training of fold 0 → TTA submission; print, write and return the scores."""
    from .competition.baselines import prior_probs, uniform_probs
    from .competition.check import check_competition
    from .competition.compare import compare_submissions
    from .competition.io import read_csv
    from .competition.meta import fold_table
    from .competition.score import oof_scores
    from .competition.submission import write_submission
    from .competition.synth import make_synthetic
    from .core.atomic import atomic_path
    from .core.constants import TARGETS
    from .experiments.results import results_markdown
    from .learn.curves import plot_histories
    from .learn.exports import export_learner
    from .learn.infer import submit
    from .learn.recipes import oof_preds, train_fold
    from .signals.prepare import prepare

    out, t0 = Path(out), time.perf_counter()
    data = make_synthetic(out / 'data', n_eegs=n_eegs, n_test=n_test, seed=args.seed)
    _step(f'synthetic competition: {n_eegs} train / {n_test} test eegs → {data}', t0)
    comp = check_competition(data)
    store = prepare(comp, out / 'cache', 'train', margin=args.jitter)
    _step(f'signal store ready: {store}', t0)
    table = fold_table(comp, args.folds, args.seed)
    learn = train_fold(table, store, 0, args)
    val = oof_scores(table, oof_preds(learn))
    _step(f'{learn.hms_spec["arch"]} trained {args.epochs} epochs on folds 1-{args.folds - 1} ({learn.dls.train.windows} windows), '
          f'then {args.epochs2} on their expert rows: fold-0 KL {val["kl"]:.4f} (expert rows {val["kl_expert"]:.4f})', t0)
    model = export_learner(learn, out / 'models' / f'{learn.hms_spec["arch"]}.pkl')   # its weights-only form: no pickle is loaded
    ids, name = comp.test.eeg_id, f'{learn.hms_spec["arch"]} + flip TTA'
    subs = {'uniform 1/6': write_submission(ids, uniform_probs(len(ids)), out / 'sub_uniform.csv', ids),
            'train prior': write_submission(ids, prior_probs(table, len(ids)), out / 'sub_prior.csv', ids),
            name: submit([model], data, out / 'cache', out / 'submission.csv', precision=args.precision),
            'oracle (true probabilities)': read_csv(data / 'test_oracle.csv', ['eeg_id', *TARGETS])}
    _step(f'submission written: {out / "submission.csv"}', t0)
    solution = read_csv(data / 'test_solution.csv', ['eeg_id', *TARGETS])
    scores = score_table(solution, subs)
    with atomic_path(out / 'results.csv') as tmp: scores.to_csv(tmp, index=False)
    with atomic_path(out / 'results.md') as tmp: tmp.write_text(results_markdown(scores, _NOTES))
    with atomic_path(out / 'history.csv') as tmp: learn.history.to_csv(tmp, index_label='epoch')
    plot_histories({f'{name.split()[0]}, fold 0': learn.history}, out / 'learning_curves.png')
    compare_submissions(subs[name], subs['train prior'], solution, names=('model', 'prior')).plot(out / 'compare.png')
    print(scores.to_string(index=False, float_format='%.4f'))
    print(f'lower is better; kept in {out}: results.md/.csv, history.csv, learning_curves.png, compare.png, submission.csv')
    return scores
