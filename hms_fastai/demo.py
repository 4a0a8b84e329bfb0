"""The README's demo: synthetic competition → signal store → one fastai learner → TTA submission → score table."""
import time
from pathlib import Path

import pandas as pd

from .competition.baselines import prior_probs, uniform_probs
from .competition.check import check_competition
from .competition.io import read_csv
from .competition.meta import add_folds
from .competition.score import kaggle_score, oof_scores
from .competition.submission import write_submission
from .competition.synth import make_synthetic
from .core.constants import TARGETS
from .core.defaults import BS, EPOCHS, EPOCHS2, LR, SEED
from .learn.exports import export_learner
from .learn.infer import submit
from .learn.recipes import oof_preds, train_fold
from .signals.prepare import prepare

__all__ = ['run_demo', 'score_table']


def score_table(solution: pd.DataFrame, submissions: dict) -> pd.DataFrame:
    """Kaggle KL of each named submission against `solution`, worst first."""
    rows = [(name, kaggle_score(solution, sub)) for name, sub in submissions.items()]
    return pd.DataFrame(rows, columns=['system', 'test KL']).sort_values('test KL', ascending=False).reset_index(drop=True)


def _step(msg: str, t0: float):
    """Print a progress line with the elapsed time."""
    print(f'[{time.perf_counter() - t0:6.1f}s] {msg}', flush=True)


def run_demo(out, n_eegs: int = 600, n_test: int = 150, arch: str = 'resnet18d', epochs: int = EPOCHS, epochs2: int = EPOCHS2,
             bs: int = BS, lr: float = LR, windows: str | None = None, jitter: float = 0.0, bf16: bool | None = None,
             seed: int = SEED) -> pd.DataFrame:
    """Synthetic data in `out` → prepare → two-stage training of one fold → TTA submission; print and return the scores."""
    out, t0 = Path(out), time.perf_counter()
    data = make_synthetic(out / 'data', n_eegs=n_eegs, n_test=n_test, seed=seed)
    _step(f'synthetic competition: {n_eegs} train / {n_test} test eegs → {data}', t0)
    comp = check_competition(data)
    store = prepare(comp, out / 'cache', 'train', margin=jitter)
    _step(f'signal store ready: {store}', t0)
    table = add_folds(store.table, 5, seed=seed)
    learn = train_fold(table, store, fold=0, arch=arch, epochs=epochs, epochs2=epochs2, bs=bs, lr=lr, windows=windows,
                       jitter=jitter, bf16=bf16, seed=seed)
    val = oof_scores(table, oof_preds(learn))
    _step(f'{arch} trained {epochs} epochs on folds 1-4 ({learn.dls.train.windows} windows), then {epochs2} on their expert rows: '
          f'fold-0 KL {val["kl"]:.4f} (expert rows {val["kl_expert"]:.4f})', t0)
    model = export_learner(learn, out / 'models' / f'{arch}.pkl')       # its weights-only form: no pickle is loaded
    ids = comp.test.eeg_id
    subs = {'uniform 1/6': write_submission(ids, uniform_probs(len(ids)), out / 'sub_uniform.csv', ids),
            'train prior': write_submission(ids, prior_probs(table, len(ids)), out / 'sub_prior.csv', ids),
            f'{arch} + flip TTA': submit([model], data, out / 'cache', out / 'submission.csv'),
            'oracle (true probabilities)': read_csv(data / 'test_oracle.csv', ['eeg_id', *TARGETS])}
    _step(f'submission written: {out / "submission.csv"}', t0)
    scores = score_table(read_csv(data / 'test_solution.csv', ['eeg_id', *TARGETS]), subs)
    print(scores.to_string(index=False, float_format='%.4f'))
    return scores
