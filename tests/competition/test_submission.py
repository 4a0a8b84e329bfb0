"""write_submission: column order, renormalisation, test-id order, and nothing written on bad input."""
import numpy as np
import pandas as pd
import pytest

from hms_fastai.competition.score import kaggle_score
from hms_fastai.competition.submission import write_submission
from hms_fastai.core.constants import TARGETS
from hms_fastai.core.errors import HMSDataError


def test_writes_renormalised_rows_in_test_order(tmp_path):
    p = np.array([[2., 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]])
    df = write_submission([20, 10], p, tmp_path / 'submission.csv', test_ids=[10, 20])
    back = pd.read_csv(tmp_path / 'submission.csv')
    assert list(back.columns) == ['eeg_id', *TARGETS] and back.eeg_id.tolist() == [10, 20]
    np.testing.assert_allclose(back[TARGETS].to_numpy(), [[1 / 6] * 6, [0.5, 0.25, 0.25, 0, 0, 0]])
    assert kaggle_score(back.assign(**{c: 1 / 6 for c in TARGETS}), df) == pytest.approx(kaggle_score(back.assign(**{c: 1 / 6 for c in TARGETS}), back))
    assert [f.name for f in tmp_path.iterdir()] == ['submission.csv']


@pytest.mark.parametrize('ids,probs,msg', [
    ([1, 2], [[np.nan] + [0.2] * 5, [1 / 6] * 6], r'eeg_id\(s\) \[1\]'),
    ([1, 2], [[-1.] + [0.2] * 5, [1 / 6] * 6], 'negative'),
    ([1, 3], [[1 / 6] * 6] * 2, r'missing \[2\], unexpected \[3\]'),
    ([1, 1], [[1 / 6] * 6] * 2, 'duplicate'),
    ([1, 2], [[1 / 6] * 5] * 2, 'shape'),
])
def test_bad_submission_leaves_old_file_untouched(tmp_path, ids, probs, msg):
    out = tmp_path / 'submission.csv'
    out.write_text('old')
    with pytest.raises(HMSDataError, match=msg) as e: write_submission(ids, probs, out, test_ids=[1, 2])
    assert 'submission.csv' in str(e.value)
    assert out.read_text() == 'old' and len(list(tmp_path.iterdir())) == 1



def test_per_eeg_predictions_are_repeated_on_each_test_row(tmp_path):
    test_ids = [5, 5, 7, 5, 9]                                    # test.csv's eeg_id column (MLE-bench: one per label row)
    p = np.array([[1., 1, 0, 0, 0, 0], [0, 0, 2, 0, 0, 0], [1, 1, 1, 1, 1, 1]])
    df = write_submission([9, 5, 7], p, tmp_path / 's.csv', test_ids=test_ids)
    back = pd.read_csv(tmp_path / 's.csv')
    assert back.eeg_id.tolist() == test_ids and list(back.columns) == ['eeg_id', *TARGETS]
    g, u, h = [0, 0, 1, 0, 0, 0], [1 / 6] * 6, [.5, .5, 0, 0, 0, 0]
    np.testing.assert_allclose(back[TARGETS].to_numpy(), [g, g, u, g, h])
    pd.testing.assert_frame_equal(df, back)


def test_per_row_predictions_are_written_in_test_order(tmp_path):
    test_ids = [5, 5, 7, 5]
    p = np.array([[1., 0, 0, 0, 0, 0], [0, 3, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 2]])
    write_submission(test_ids, p, tmp_path / 's.csv', test_ids=test_ids)
    back = pd.read_csv(tmp_path / 's.csv')
    assert back.eeg_id.tolist() == test_ids
    np.testing.assert_allclose(back[TARGETS].to_numpy(), p / p.sum(axis=1, keepdims=True))


def test_rows_sum_to_one_at_5_decimals_as_written(tmp_path):
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(6, 0.2), 500) * rng.uniform(1e-6, 1e6, (500, 1))
    p[:50, :3] = 0
    ids = np.repeat(np.arange(100), 5)
    write_submission(ids, p, tmp_path / 's.csv', test_ids=ids)
    back = pd.read_csv(tmp_path / 's.csv', float_precision='round_trip')
    assert (back[TARGETS].sum(axis=1).round(5) == 1).all()


def test_kaggle_layout_file_is_unchanged(tmp_path):
    """Unique eeg_ids: the file is test.csv's order of the renormalised rows, as before per-row test sets existed."""
    rng = np.random.default_rng(1)
    ids, p = rng.permutation(np.arange(10, 30)), rng.random((20, 6))
    test_ids = np.sort(ids)
    write_submission(ids, p, tmp_path / 'a.csv', test_ids=test_ids)
    expected = pd.DataFrame({'eeg_id': ids, **dict(zip(TARGETS, (p / p.sum(axis=1, keepdims=True)).T))})
    assert (tmp_path / 'a.csv').read_bytes() == expected.set_index('eeg_id').loc[test_ids].reset_index().to_csv(index=False).encode()
    write_submission(test_ids, p, tmp_path / 'b.csv', test_ids=test_ids)                   # already in test order
    write_submission(test_ids, p, tmp_path / 'c.csv')
    assert (tmp_path / 'b.csv').read_bytes() == (tmp_path / 'c.csv').read_bytes()


@pytest.mark.parametrize('ids, test_ids', [([5, 7, 5], [5, 5, 7]), ([5, 5, 7], None), ([5, 5], [5, 5, 7])])
def test_repeated_ids_must_be_test_rows_in_order(tmp_path, ids, test_ids):
    with pytest.raises(HMSDataError, match=r"duplicate eeg_id\(s\) \[5\]: give one prediction per eeg, or one per test.csv row"):
        write_submission(ids, np.full((len(ids), 6), 1 / 6), tmp_path / 's.csv', test_ids=test_ids)
    assert not list(tmp_path.iterdir())


def test_written_submission_passes_the_mlebench_grader(tmp_path):
    from mlebench_grader import grade
    answers = pd.DataFrame({'eeg_id': [3, 3, 1, 3, 2], **{c: [1, 1, 2, 0, 1] for c in TARGETS}})
    answers['seizure_vote'] = [4, 0, 1, 2, 0]
    sub = write_submission([1, 2, 3], np.arange(18.).reshape(3, 6) + 1, tmp_path / 's.csv', test_ids=answers.eeg_id)
    assert grade(pd.read_csv(tmp_path / 's.csv'), answers) == pytest.approx(kaggle_score(answers, sub), rel=1e-12)
