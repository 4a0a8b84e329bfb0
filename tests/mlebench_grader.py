"""A grader with MLE-bench's rules for this competition, written for the tests from its description (not imported:
mlebench is not installed, and its code is not copied).

Checked by reading openai/mle-bench at commit 783b15af77404fbaffe7255b0c4a934b46153389 (the folder last changed in
a0e3b23ac1cdab36de3ee903104f119f05880d6b), mlebench/competitions/hms-harmful-brain-activity-classification/:
- grade.py, prepare_for_metric: the submission needs eeg_id and the 6 target columns; len(submission) == len(answers);
  every submission row's sum, rounded to 5 decimals, is 1; the same set of eeg_ids; then both frames are sorted by
  eeg_id (pandas' default sort, quicksort: unstable) and paired by position; the answers (raw vote counts, private/
  test.csv) are divided by their row sums.
- kullback_leibler_divergence.py, score(micro_average=True): both frames must be valid probabilities
  (kaggle_metric_utilities.verify_valid_probabilities: numeric, ≥ 0, ≤ 1, np.allclose(row sums, 1)); the submission is
  clipped to [1e-15, 1 - 1e-15] (not renormalised); a cell contributes y·log(y / p) where y != 0, else 0; each row's
  cells are summed and the rows averaged with equal weights (an eeg weighs as many rows as it has).
`test_grader_reproduces_mlebench_docstring_examples` checks the KL part against the numbers in score's docstring.
"""
import numpy as np
import pandas as pd

TARGETS = ['seizure_vote', 'lpd_vote', 'gpd_vote', 'lrda_vote', 'grda_vote', 'other_vote']
EPSILON = 1e-15


class InvalidSubmission(ValueError):
    """What MLE-bench's grader raises (InvalidSubmissionError / ParticipantVisibleError) for a submission it refuses."""


def _valid_probabilities(df: pd.DataFrame, name: str):
    """Kaggle's check of a probability table (target columns only)."""
    if not all(pd.api.types.is_numeric_dtype(df[c]) for c in df.columns): raise InvalidSubmission(f'{name}: not numeric')
    if df.min().min() < 0: raise InvalidSubmission(f'{name}: values below zero')
    if df.max().max() > 1: raise InvalidSubmission(f'{name}: values above one')
    if not np.allclose(df.sum(axis=1), 1): raise InvalidSubmission(f'{name}: rows do not add to one')


def kl_micro(solution: pd.DataFrame, submission: pd.DataFrame, epsilon: float = EPSILON) -> float:
    """Row micro-average of KL(solution‖submission) over the shared columns, rows paired by position."""
    y = solution.to_numpy(np.float64)
    p = np.clip(submission[list(solution.columns)].to_numpy(np.float64), epsilon, 1 - epsilon)
    cells = np.zeros_like(y)
    nz = y != 0
    cells[nz] = y[nz] * np.log(y[nz] / p[nz])
    return float(cells.sum(axis=1).mean())


def grade(submission: pd.DataFrame, answers: pd.DataFrame) -> float:
    """MLE-bench's grade(submission, answers) for this competition: the checks, sort-and-pair, normalised answers, KL."""
    if 'eeg_id' not in submission.columns: raise InvalidSubmission('submission has no eeg_id column')
    if not all(c in submission.columns for c in TARGETS): raise InvalidSubmission('submission lacks target columns')
    if len(submission) != len(answers): raise InvalidSubmission('submission and answers differ in length')
    if not submission[TARGETS].sum(axis=1).apply(lambda s: round(s, 5) == 1).all():
        raise InvalidSubmission('submission rows do not add to 1 at 5 decimals')
    if set(answers['eeg_id']) != set(submission['eeg_id']): raise InvalidSubmission('submission and answers differ in eeg_ids')
    submission = submission.sort_values('eeg_id').reset_index(drop=True)
    answers = answers.sort_values('eeg_id').reset_index(drop=True)[TARGETS].astype(float)
    answers = answers.div(answers.sum(axis=1), axis=0)
    _valid_probabilities(answers, 'solution')
    _valid_probabilities(submission[TARGETS], 'submission')
    return kl_micro(answers, submission[TARGETS])
