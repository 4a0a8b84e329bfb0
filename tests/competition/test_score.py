"""kaggle_score against an independent scipy computation, and the grader's validations."""
import numpy as np
import pandas as pd
import pytest
from scipy.special import rel_entr

from hms_fastai.competition.score import kaggle_score, kl_rows, oof_scores, score_layout, target_frame
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


def test_grader_reproduces_mlebench_docstring_examples():
    """The KL core of tests/mlebench_grader.py gives the numbers in MLE-bench's score() docstring."""
    from mlebench_grader import kl_micro
    sol = pd.DataFrame({'ham': [0, 1, 1, 0], 'spam': [1, 0, 0, 1]})
    sub = pd.DataFrame({'ham': [.1, .9, .8, .35], 'spam': [.9, .1, .2, .65]})
    assert kl_micro(sol, sub) == pytest.approx(0.216161, abs=1e-6)
    sol = pd.DataFrame({'ham': [0, 0.5, 0.5], 'spam': [0.1, 0.5, 0.5], 'other': [0.9, 0, 0]})
    assert kl_micro(sol, sol) == 0.0
    sub = pd.DataFrame({'ham': [0.2, 0.3, 0.5], 'spam': [0.1, 0.5, 0.5], 'other': [0.7, 0.2, 0]})
    assert kl_micro(sol, sub) == pytest.approx(0.160531, abs=1e-6)


def test_repeated_ids_hand_computation():
    sol = _table([7, 9, 7], [[3, 0, 0, 0, 0, 0], [0, 0, 0, 2, 0, 0], [0, 1, 1, 0, 0, 0]])      # raw votes, one per label row
    sub = _table([9, 7, 7], [[0, 0, 0, 1, 0, 0], [.5, .5, 0, 0, 0, 0], [1 / 6] * 6])           # other order of eegs
    want = (np.log(2) + np.log(3) - np.log(1 - 1e-15)) / 3     # 7's 1st row ↔ its 1st, 7's 2nd ↔ its 2nd; 9 exact (clipped)
    assert score_layout(sol) == 'row' and score_layout(sol.iloc[:2]) == 'eeg'
    assert kaggle_score(sol, sub) == pytest.approx(want, rel=1e-12)
    swapped = sub.iloc[[0, 2, 1]]                              # the rows of eeg 7 the other way round
    assert kaggle_score(sol, swapped) == pytest.approx((np.log(6) + 0.5 * np.log(0.5 / 1e-15) - np.log(1 - 1e-15)) / 3, rel=1e-12)
    normalised = sol.assign(**{c: sol[c] / sol[TARGETS].sum(axis=1) for c in TARGETS})
    assert kaggle_score(normalised, sub) == pytest.approx(want, rel=1e-12)


def _per_row_case(seed: int, vary: str):
    """A per-row solution (votes) and submission whose rows of one eeg agree in `vary`'s other table (pairing-invariant)."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.arange(100, 140), 300)
    eeg_p = {i: rng.dirichlet(np.full(6, 0.5)) for i in np.unique(ids)}
    row_votes = np.stack([rng.multinomial(rng.integers(1, 20), eeg_p[i]) for i in ids]).astype(float)
    row_votes[row_votes.sum(axis=1) == 0, 5] = 1
    eeg_votes = np.stack([np.round(eeg_p[i] * 12) + (np.arange(6) == 0) for i in ids])
    row_probs, eeg_probs = rng.dirichlet(np.full(6, 0.3), len(ids)), np.stack([eeg_p[i] for i in ids])
    y, p = (row_votes, eeg_probs) if vary == 'solution' else (eeg_votes, row_probs)
    return _table(ids, y), _table(ids, p).sample(frac=1, random_state=seed)


@pytest.mark.parametrize('vary', ['solution', 'submission'])
def test_equals_the_mlebench_grader_on_per_row_data(vary):
    from mlebench_grader import grade
    for seed in range(3):
        sol, sub = _per_row_case(seed, vary)
        assert kaggle_score(sol, sub) == pytest.approx(grade(sub.copy(), sol.copy()), rel=1e-12)


def test_equals_the_mlebench_grader_on_unique_ids():
    from mlebench_grader import grade
    rng = np.random.default_rng(4)
    votes = rng.integers(0, 5, (80, 6)).astype(float)
    votes[votes.sum(axis=1) == 0, 2] = 1
    sol, sub = _table(np.arange(80) * 3, votes), _table(np.arange(80) * 3, rng.dirichlet(np.ones(6), 80)).iloc[::-1]
    assert kaggle_score(sol, sub) == pytest.approx(grade(sub.copy(), sol.copy()), rel=1e-12)


@pytest.mark.parametrize('mutate, msg', [
    (lambda s: s.iloc[:-1], r'3 rows, solution has 4'),
    (lambda s: s.assign(eeg_id=[7, 7, 7, 9]), r'eeg_id\(s\) \[7, 9\] have a different number of rows than in solution'),
    (lambda s: s.assign(eeg_id=[7, 7, 9, 11]), r'eeg_ids differ from solution: missing \[\], unexpected \[11\]'),
    (lambda s: s.assign(seizure_vote=s.seizure_vote + 6e-6), r'do not add to one at 5 decimals for eeg_id\(s\) \[7, 7, 9, 9\]'),
    (lambda s: s.assign(lpd_vote=np.nan), 'non-finite'),
])
def test_per_row_grader_checks(mutate, msg):
    sol = _table([7, 7, 9, 9], np.eye(6)[:4] * 3)
    sub = _table([7, 7, 9, 9], np.full((4, 6), 1 / 6))
    assert kaggle_score(sol, sub) == pytest.approx(np.log(6))
    with pytest.raises(HMSDataError, match=msg) as e: kaggle_score(sol, mutate(sub))
    assert e.value.where == 'submission'


def test_per_row_solution_rows_without_votes_are_an_error():
    with pytest.raises(HMSDataError, match=r'solution: eeg_id\(s\) \[4\] have no votes'):
        kaggle_score(_table([4, 4], [[0] * 6, [1] + [0] * 5]), _table([4, 4], [[1 / 6] * 6] * 2))


def test_cli_score_names_the_layout(tmp_path, capsys):
    from hms_fastai.cli import main
    sol, sub = _table([7, 7, 9], np.eye(6)[:3] * 2), _table([7, 7, 9], np.full((3, 6), 1 / 6))
    sol.to_csv(tmp_path / 'sol.csv', index=False)
    sub.to_csv(tmp_path / 'sub.csv', index=False)
    assert main(['score', '--solution', str(tmp_path / 'sol.csv'), '--submission', str(tmp_path / 'sub.csv')]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith('layout: one row per label row, eeg_ids repeat (MLE-bench): mean KL over 3 rows of 2 eeg_ids')
    assert float(out[-1]) == pytest.approx(np.log(6), abs=1e-6) and len(out) == 2
    sol.iloc[1:].to_csv(tmp_path / 'sol.csv', index=False)
    sub.iloc[1:].to_csv(tmp_path / 'sub.csv', index=False)
    assert main(['score', '--solution', str(tmp_path / 'sol.csv'), '--submission', str(tmp_path / 'sub.csv')]) == 0
    assert capsys.readouterr().out.startswith('layout: one row per eeg_id (Kaggle): mean KL over 2 eeg_ids\n')


def test_oof_scores_per_label_row_by_hand():
    """kl_rows: each eeg's OOF prediction on each of its label rows, against the row's own votes, rows weighed equally."""
    rows = pd.DataFrame({'eeg_id': [1, 1, 2], **dict(zip(TARGETS, np.array([[2, 0, 0, 0, 0, 0], [0, 2, 0, 0, 0, 0],
                                                                             [0, 0, 3, 0, 0, 0.]]).T))})
    table = pd.DataFrame({'eeg_id': [1, 2], 'expert': [False, False],
                          **dict(zip(TARGETS, np.array([[.5, .5, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0.]]).T))})
    oof = pd.DataFrame({'eeg_id': [2, 1], **dict(zip(TARGETS, np.array([[0, 0, 1, 0, 0, 0], [.5, .5, 0, 0, 0, 0.]]).T))})
    # per eeg both predictions are exact (0); per row, eeg 1's two rows each lose ln(1/.5) = ln 2 and eeg 2's row 0
    scores = oof_scores(table, oof, rows)
    assert scores['kl'] == pytest.approx(0, abs=1e-12) and scores['kl_rows'] == pytest.approx(2 * np.log(2) / 3)
    assert oof_scores(table[table.eeg_id == 2], oof[oof.eeg_id == 2], rows)['kl_rows'] == pytest.approx(0, abs=1e-12)   # its rows only
