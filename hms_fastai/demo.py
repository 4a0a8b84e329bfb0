"""The README's demo: synthetic competition → baselines → score table."""
import time
from pathlib import Path

import pandas as pd

from .baselines import prior_probs, uniform_probs
from .check import check_competition
from .constants import TARGETS
from .io import read_csv
from .meta import eeg_table
from .score import kaggle_score
from .submission import write_submission

__all__ = ['run_demo', 'score_table']


def score_table(solution: pd.DataFrame, submissions: dict) -> pd.DataFrame:
    """Kaggle KL of each named submission against `solution`, best first."""
    rows = [(name, kaggle_score(solution, sub)) for name, sub in submissions.items()]
    return pd.DataFrame(rows, columns=['system', 'kl']).sort_values('kl').reset_index(drop=True)


def run_demo(out, n_eegs: int = 600, n_test: int = 150, seed: int = 0) -> pd.DataFrame:
    """Make synthetic data in `out`, write baseline submissions, print and return their scores."""
    from .synth import make_synthetic
    out = Path(out)
    t0 = time.perf_counter()
    data = make_synthetic(out / 'data', n_eegs=n_eegs, n_test=n_test, seed=seed)
    print(f'synthetic data: {n_eegs} train / {n_test} test eegs in {time.perf_counter() - t0:.1f}s → {data}')
    comp = check_competition(data)
    table, ids = eeg_table(comp.train), comp.test.eeg_id
    subs = {'uniform 1/6': write_submission(ids, uniform_probs(len(ids)), out / 'sub_uniform.csv', ids),
            'train prior': write_submission(ids, prior_probs(table, len(ids)), out / 'sub_prior.csv', ids),
            'oracle (true probabilities)': read_csv(data / 'test_oracle.csv', ['eeg_id', *TARGETS])}
    scores = score_table(read_csv(data / 'test_solution.csv', ['eeg_id', *TARGETS]), subs)
    print(scores.to_string(index=False, float_format='%.4f'))
    return scores
