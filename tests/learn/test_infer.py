"""Offline inference: exported learners, deterministic TTA, ensembles, a fresh process, the real test layout."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from hms_fastai.competition.score import kaggle_score
from hms_fastai.core.constants import TARGETS
from hms_fastai.learn.data import hms_dls, hms_test_dl
from hms_fastai.learn.infer import load_learners, predict, submit
from hms_fastai.learn.learner import hms_learner

TINY = 'test_efficientnet'


@pytest.fixture(scope='module')
def exported(fastai_data, tmp_path_factory):
    """Two tiny learners trained 2 epochs on fold 0 and exported."""
    train, _, table = fastai_data
    out = tmp_path_factory.mktemp('models')
    paths = []
    for seed in (0, 1):
        learn = hms_learner(hms_dls(table, train, fold=0, bs=8, seed=seed), TINY, seed=seed)
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(2, 1e-2)
        learn.export(out / f'fold{seed}.pkl')
        paths.append(out / f'fold{seed}.pkl')
    return paths


def test_tta_is_deterministic_and_sums_to_one(exported, fastai_data):
    _, test, _ = fastai_data
    learn = load_learners(exported[0])[0]
    dl = hms_test_dl(learn.dls, test.table, test)
    a, b = learn.tta(dl=dl)[0], learn.tta(dl=dl)[0]
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(a.sum(1), torch.ones(len(a)), rtol=0, atol=1e-6)
    plain = learn.get_preds(dl=dl)[0]
    assert not torch.allclose(a, plain)                                  # the flip view really enters the mean
    torch.testing.assert_close(learn.tta(dl=dl, flip=False)[0], plain)


def test_predict_orders_by_test_csv_and_ensembles(exported, synth_root, tmp_path):
    test = pd.read_csv(synth_root / 'test.csv')
    one = predict(exported[:1], synth_root, tmp_path / 'cache')
    assert one.eeg_id.tolist() == test.eeg_id.tolist() and list(one.columns) == ['eeg_id', *TARGETS]
    np.testing.assert_allclose(one[TARGETS].sum(axis=1), 1, atol=1e-6)
    both = predict(exported, synth_root, tmp_path / 'cache')
    other = predict(exported[1:], synth_root, tmp_path / 'cache')
    np.testing.assert_allclose(both[TARGETS], (one[TARGETS] + other[TARGETS]) / 2, atol=1e-6)
    np.testing.assert_allclose(predict(exported, synth_root, tmp_path / 'cache', weights=[1, 0])[TARGETS], one[TARGETS], atol=1e-6)


def test_fresh_process_reproduces_and_submission_round_trips(exported, synth_root, tmp_path):
    want = submit(exported, synth_root, tmp_path / 'cache', tmp_path / 'in_process.csv')
    code = ('import sys; from hms_fastai.learn.infer import submit; '
            f'submit(sys.argv[1:3], {str(synth_root)!r}, {str(tmp_path / "cache2")!r}, {str(tmp_path / "sub.csv")!r})')
    r = subprocess.run([sys.executable, '-c', code, *map(str, exported)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    got = pd.read_csv(tmp_path / 'sub.csv')
    np.testing.assert_allclose(got[TARGETS], want[TARGETS], atol=1e-6)
    sol = pd.read_csv(synth_root / 'test_solution.csv')
    assert kaggle_score(sol, got) == pytest.approx(kaggle_score(sol, want), abs=1e-6)


def test_real_test_layout(exported, real_root, tmp_path):
    sub = submit(exported, real_root, tmp_path / 'cache', tmp_path / 'submission.csv')
    back = pd.read_csv(tmp_path / 'submission.csv')
    sample = pd.read_csv(real_root / 'sample_submission.csv')
    assert list(back.columns) == list(sample.columns) and back.eeg_id.tolist() == sample.eeg_id.tolist()
    assert kaggle_score(sample, back) >= 0 and np.allclose(back[TARGETS].sum(axis=1), 1)
    assert sub.eeg_id.tolist() == [3911565283]
