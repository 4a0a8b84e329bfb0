"""Ensemble weights fitted on OOF: the optimum of a constructed case, the gradient, the held-out check, the CLI."""
import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime

from hms_fastai.cli import main
from hms_fastai.competition.blend import blend_kl, fit_blend, fit_weights, read_blend
from hms_fastai.competition.meta import pseudo_label
from hms_fastai.core.constants import TARGETS
from hms_fastai.core.errors import HMSDataError


def _case(n: int = 60, seed: int = 0):
    """Truth and three predictors: A close to the truth, B half as good, C uniform (useless)."""
    rng = np.random.default_rng(seed)
    y = rng.dirichlet(np.ones(6), n)
    noisy = lambda s: (lambda q: q / q.sum(1, keepdims=True))(np.clip(y + rng.normal(0, s, y.shape), 0.01, None))
    table = pd.DataFrame({'eeg_id': np.arange(n), 'expert': np.arange(n) % 2 == 0, **dict(zip(TARGETS, y.T))})
    frame = lambda p: pd.DataFrame({'eeg_id': np.arange(n), 'fold': np.arange(n) % 3, **dict(zip(TARGETS, p.T))})
    return table, {'A': frame(noisy(0.02)), 'B': frame(noisy(0.1)), 'C': frame(np.full((n, 6), 1 / 6))}


def test_weights_favour_the_better_predictor_and_beat_equal():
    table, oofs = _case()
    b = fit_blend(oofs, table, 'all')
    w = b.weights
    assert set(w) == {'A', 'B', 'C'} and abs(sum(w.values()) - 1) < 1e-9 and min(w.values()) >= 0
    assert w['A'] > w['B'] > w['C'] and w['C'] < 0.05
    y = table[TARGETS].to_numpy()
    p = np.stack([o[TARGETS].to_numpy() for o in oofs.values()])
    assert b.kl == pytest.approx(blend_kl(y, p, list(w.values()))) and b.kl < b.kl_equal
    assert b.kl_equal == pytest.approx(np.mean([sum(a * np.log(a / q) for a, q in zip(yr, pr)) for yr, pr in zip(y, p.mean(0))]))
    for single in range(3): assert b.kl <= blend_kl(y, p, np.eye(3)[single]) + 1e-9            # no worse than any member
    assert b.kl_heldout < b.kl_equal and abs(b.kl_heldout - b.kl) < 0.01                         # held out: still a gain


def test_recovers_known_weights():
    # the truth is a known mixture of three predictors, so KL 0 is reached at those weights and only there
    rng, n, known = np.random.default_rng(2), 90, np.array([0.6, 0.3, 0.1])
    p = rng.dirichlet(np.ones(6), (3, n))
    y = np.tensordot(known, p, 1)
    table = pd.DataFrame({'eeg_id': np.arange(n), 'expert': True, **dict(zip(TARGETS, y.T))})
    oofs = {k: pd.DataFrame({'eeg_id': np.arange(n), 'fold': np.arange(n) % 3, **dict(zip(TARGETS, q.T))}) for k, q in zip('ABC', p)}
    b = fit_blend(oofs, table, 'expert')
    np.testing.assert_allclose(list(b.weights.values()), known, atol=1e-3)
    assert b.kl < 1e-6 and b.kl_heldout < 1e-5 < b.kl_equal                                      # each fold's weights recover it too


def test_the_gradient_is_exact():
    table, oofs = _case(30, seed=1)
    y, p = table[TARGETS].to_numpy(), np.stack([o[TARGETS].to_numpy() for o in oofs.values()])
    theta = np.array([0.3, -0.2, 0.1])
    f = lambda t: blend_kl(y, p, np.exp(t) / np.exp(t).sum())
    w = np.exp(theta) / np.exp(theta).sum()
    q = np.tensordot(w, p, 1)
    g = -(y / q * p).sum(-1).mean(-1)
    np.testing.assert_allclose(w * (g - w @ g), approx_fprime(theta, f, 1e-7), rtol=1e-4, atol=1e-7)
    assert np.isclose(fit_weights(y, p).sum(), 1)


def test_expert_rows_and_refusals():
    table, oofs = _case()
    assert fit_blend(oofs, table, 'expert').on == 'expert'
    with pytest.raises(HMSDataError, match="eeg_ids differ from A"): fit_blend({**oofs, 'B': oofs['B'].iloc[1:]}, table)
    with pytest.raises(ValueError, match="'expert' or 'all'"): fit_blend(oofs, table, 'some')


def test_pseudo_labels_by_hand():
    table = pd.DataFrame({'eeg_id': [1, 2, 3], 'total_votes': [3, 12, 1], **dict(zip(TARGETS, np.eye(6)[[0, 1, 2]].T))})
    preds = pd.DataFrame({'eeg_id': [3, 2, 1], **dict(zip(TARGETS, np.full((3, 6), 1 / 6).T))})
    out = pseudo_label(table, preds, below=10, keep=0.1)
    np.testing.assert_allclose(out.loc[0, TARGETS].to_numpy(float), 0.1 * np.eye(6)[0] + 0.9 / 6)
    np.testing.assert_allclose(out.loc[1, TARGETS].to_numpy(float), np.eye(6)[1])                # 12 votes: kept
    assert out.pseudo.tolist() == [True, False, True]
    with pytest.raises(HMSDataError, match='no prediction for eeg_id'): pseudo_label(table, preds.iloc[:1])


def test_cli_blend_writes_weights_predict_reads(tmp_path, synth_root, capsys):
    comp = pd.read_csv(synth_root / 'train.csv')
    ids = np.sort(comp.eeg_id.unique())
    rng = np.random.default_rng(0)
    paths = []
    for name in ('a', 'b'):
        (tmp_path / name).mkdir()
        p = rng.dirichlet(np.ones(6), len(ids))
        pd.DataFrame({'eeg_id': ids, 'fold': np.arange(len(ids)) % 2, **dict(zip(TARGETS, p.T))}).to_csv(tmp_path / name / 'oof.csv', index=False)
        paths.append(str(tmp_path / name / 'oof.csv'))
    assert main(['blend', *paths, '--data', str(synth_root), '--out', str(tmp_path / 'w.json'), '--on', 'all']) == 0
    out = capsys.readouterr().out.strip().splitlines()
    blend = read_blend(tmp_path / 'w.json')
    assert set(blend.weights) == {str(tmp_path / 'a'), str(tmp_path / 'b')} and out[-1].startswith('OOF KL on all rows: fitted')
    assert json.loads((tmp_path / 'w.json').read_text())['on'] == 'all'


@pytest.mark.parametrize('value, wanted', [(np.nan, 'B: eeg_id 4: lpd_vote is not a finite number \\(nan\\)'),
                                           (np.inf, 'B: eeg_id 4: lpd_vote is not a finite number \\(inf\\)'),
                                           (-0.25, 'B: eeg_id 4: lpd_vote is negative \\(-0.25\\)'),
                                           (None, 'B: eeg_id 4: every column .* is 0')])
def test_oof_rows_that_are_not_probabilities_are_refused(value, wanted):
    table, oofs = _case()
    bad = oofs['B'].copy()
    if value is None: bad.loc[bad.eeg_id == 4, TARGETS] = 0.0
    else: bad.loc[bad.eeg_id == 4, 'lpd_vote'] = value
    with pytest.raises(HMSDataError, match=wanted): fit_blend({**oofs, 'B': bad}, table, 'all')


@pytest.mark.parametrize('weights, wanted', [({'a': -1}, "'weights': 'a' has -1, not a finite non-negative number"),
                                             ({'a': float('nan')}, "'weights': 'a' has nan"), ({'a': '0.5'}, "'weights': 'a' has '0.5'"),
                                             ({'a': True}, "'weights': 'a' has True"), ({'a': 0, 'b': 0.0}, "'weights' are all 0"),
                                             ([0.5, 0.5], "'weights' must map each run folder to its weight, got list"),
                                             ({}, "'weights' must map each run folder")])
def test_a_blend_file_with_weights_that_weigh_nothing_is_refused(weights, wanted, tmp_path):
    path = tmp_path / 'b.json'
    path.write_text(json.dumps({'weights': weights, 'on': 'all', 'kl': 0.1, 'kl_heldout': 0.2, 'kl_equal': 0.3}))
    with pytest.raises(HMSDataError, match=f'b.json: {re.escape(wanted)}'): read_blend(path)
    path.write_text(json.dumps({'weights': {'a': 0.25, 'b': 0.75, 'c': 0}, 'on': 'all', 'kl': 0.1, 'kl_heldout': 0.2, 'kl_equal': 0.3}))
    assert read_blend(path).weights == {'a': 0.25, 'b': 0.75, 'c': 0}
