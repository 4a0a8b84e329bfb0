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
