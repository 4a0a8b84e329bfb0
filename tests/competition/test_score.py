"""kaggle_score against an independent scipy computation, and the grader's validations."""
import numpy as np
import pandas as pd
import pytest
from scipy.special import rel_entr

from hms_fastai.competition.score import kaggle_score, kl_rows, target_frame
from hms_fastai.core.constants import TARGETS
from hms_fastai.core.errors import HMSDataError


def _table(ids, values) -> pd.DataFrame:
    df = pd.DataFrame(np.asarray(values, float), columns=TARGETS)
    df.insert(0, 'eeg_id', ids)
    return df


def _scipy_score(y, p):
    y = y / y.sum(axis=1, keepdims=True)
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return rel_entr(y, p).sum(axis=1).mean()


def test_matches_scipy_with_zero_targets_and_extreme_predictions():
    rng = np.random.default_rng(0)
    votes = rng.integers(0, 4, (200, 6)).astype(float)
    votes[votes.sum(1) == 0, 0] = 1
    p = rng.dirichlet(np.ones(6) * 0.3, 200)
    p[:10] = np.eye(6)[rng.integers(0, 6, 10)]          # exactly-one (and exactly-zero) predictions
    p[10:20, 0] = 1e-18; p[10:20] /= p[10:20].sum(1, keepdims=True)   # near-zero predictions
    ids = np.arange(200) * 7 + 3
    got = kaggle_score(_table(ids, votes), _table(ids, p))
    assert got == pytest.approx(_scipy_score(votes, p), rel=1e-12)


def test_hand_values():
    sol = _table([1, 2], [[3, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0]])
    sub = _table([2, 1], [[0.5, 0.5, 0, 0, 0, 0], [1 / 6] * 6])    # rows keyed by eeg_id, not position
    assert kaggle_score(sol, sub) == pytest.approx(np.log(6) / 2)
    exact = _table([1, 2], [[1, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0]])     # clipped to 1-1e-15 and 1e-15
    assert kaggle_score(sol, exact) == pytest.approx((-np.log(1 - 1e-15) + np.log(0.5 / 1e-15)) / 2, rel=1e-12)


def test_kl_rows_zero_target_contributes_nothing():
    assert kl_rows(np.array([[1., 0, 0, 0, 0, 0]]), np.array([[0.5, 0.5, 0, 0, 0, 0]]))[0] == pytest.approx(np.log(2))


@pytest.mark.parametrize('mutate,msg', [
    (lambda s: s.iloc[:-1], 'eeg_ids differ'),
    (lambda s: s.assign(eeg_id=s.eeg_id + 1000), 'eeg_ids differ'),
    (lambda s: s.assign(seizure_vote=np.nan), 'non-finite'),
    (lambda s: s.assign(seizure_vote=-0.1, lpd_vote=s.lpd_vote + 0.1), 'at least zero'),
    (lambda s: s.assign(seizure_vote=1.5), 'greater than one'),
    (lambda s: s.assign(seizure_vote=s.seizure_vote + 0.1), 'add to one'),
    (lambda s: s.drop(columns='gpd_vote'), 'missing column'),
    (lambda s: s.assign(grda_vote='x'), 'not numeric'),
    (lambda s: pd.concat([s, s.iloc[:1]]), 'duplicate eeg_id'),
])
def test_grader_validations(mutate, msg):
    ids = [11, 12, 13]
    sol = _table(ids, np.eye(6)[:3])
    sub = _table(ids, np.full((3, 6), 1 / 6))
    with pytest.raises(HMSDataError, match=msg) as e: kaggle_score(sol, mutate(sub))
    assert str(e.value).startswith('submission')


def test_solution_without_votes_is_an_error():
    with pytest.raises(HMSDataError, match='no votes'):
        kaggle_score(_table([1], [[0] * 6]), _table([1], [[1 / 6] * 6]))


def test_target_frame_puts_fold_after_eeg_id():
    probs = np.arange(12.0).reshape(2, 6)
    per_row, shared, none = target_frame([5, 7], probs, [0, 1]), target_frame([5, 7], probs, 2), target_frame([5, 7], probs)
    assert list(per_row.columns) == ['eeg_id', 'fold', *TARGETS] and list(none.columns) == ['eeg_id', *TARGETS]
    assert per_row.fold.tolist() == [0, 1] and shared.fold.tolist() == [2, 2]
    np.testing.assert_array_equal(none[TARGETS].to_numpy(), probs)
