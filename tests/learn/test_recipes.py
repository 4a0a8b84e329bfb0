"""Recipes: best-epoch fold training, two-stage (expert rows), k folds with exports, OOF predictions and scores."""
import numpy as np
import pandas as pd
import pytest
import timm
import torch
from fastai.callback.core import Callback
from fastai.learner import load_learner

from hms_fastai.competition.score import oof_scores
from hms_fastai.core.constants import TARGETS
from hms_fastai.core.errors import HMSDataError
from hms_fastai.learn.recipes import train_fold, train_folds

TINY = dict(arch='test_efficientnet', bs=8, flip=0, mask=0, seed=0, epochs2=0)


class SpoilLastEpoch(Callback):
    """Make the last epoch's model wildly overconfident, so that it is not the best epoch."""

    def after_train(self):
        if self.epoch == self.n_epoch - 1:
            with torch.no_grad(): self.learn.model[1][-1].weight.mul_(1e4)


def test_train_fold_keeps_the_best_epoch(fastai_data):
    train, _, table = fastai_data
    learn = train_fold(table, train, fold=1, epochs=2, lr=1e-2, cbs=[SpoilLastEpoch()], **TINY)
    recorded = [v[1] for v in learn.recorder.values]
    assert recorded[-1] > 100 > recorded[0]
    with learn.no_bar(): assert learn.validate()[0] == pytest.approx(recorded[0], rel=1e-4)


class NaNPredictions(Callback):
    """Every prediction NaN, as after a diverged step."""

    def after_pred(self): self.learn.pred = self.pred * float('nan')


def test_a_never_finite_monitor_says_so(fastai_data):
    train, _, table = fastai_data
    with pytest.raises(FloatingPointError, match='valid_loss was NaN in every epoch.*lower the lr'):
        train_fold(table, train, fold=1, epochs=1, cbs=[NaNPredictions()], **TINY)


def test_train_fold_from_local_weights_fine_tunes(fastai_data, tmp_path):
    train, _, table = fastai_data
    torch.save(timm.create_model('test_efficientnet').state_dict(), tmp_path / 'w.pth')
    learn = train_fold(table, train, fold=0, epochs=1, pretrained=tmp_path / 'w.pth', mixup=0.4, **TINY)
    assert all(p.requires_grad for p in learn.model.parameters()) and len(learn.recorder.values) == 1


def test_two_stage_second_stage_trains_on_expert_rows(fastai_data):
    train, _, table = fastai_data
    learn = train_fold(table, train, fold=2, epochs=1, **{**TINY, 'epochs2': 1})
    assert learn.dls.train_ds.items.expert.all() and len(learn.dls.train_ds) == (table.expert & (table.fold != 2)).sum()
    assert sorted(learn.dls.valid.items.eeg_id) == sorted(table.eeg_id[table.fold == 2])
    assert np.isfinite(learn.recorder.values[-1]).all()


def _mean_kl(y: np.ndarray, p: np.ndarray) -> float:
    """Mean over rows of sum y·ln(y/p), written out independently of the package (0·ln 0 = 0; p clipped as Kaggle does)."""
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(np.mean([sum(a * np.log(a / b) for a, b in zip(yr, pr) if a > 0) for yr, pr in zip(y, p)]))


@pytest.mark.parametrize('epochs2', [0, 1])
def test_train_folds_exports_and_scores_out_of_fold(fastai_data, tmp_path, epochs2):
    train, _, table = fastai_data
    paths, oof, scores, params = train_folds(table.drop(columns='fold'), train, tmp_path, folds=3, epochs=1,
                                             **{**TINY, 'bs': 4, 'epochs2': epochs2})
    assert paths == [tmp_path / f'fold{k}.json' for k in range(3)] and all(p.stat().st_size > 0 for p in paths)
    assert sorted(oof.eeg_id) == sorted(table.eeg_id) and list(oof.columns) == ['eeg_id', 'fold', *TARGETS]
    assert params == sum(p.numel() for p in load_learner(paths[0].with_suffix('.pkl')).model.parameters())
    np.testing.assert_allclose(oof[TARGETS].sum(axis=1), 1, rtol=1e-5)
    truth = table.set_index('eeg_id').loc[oof.eeg_id]
    assert scores['kl'] == pytest.approx(_mean_kl(truth[TARGETS].to_numpy(), oof[TARGETS].to_numpy()), rel=1e-9)
    e = truth.expert.to_numpy()
    assert scores['kl_expert'] == pytest.approx(_mean_kl(truth[TARGETS].to_numpy()[e], oof[TARGETS].to_numpy()[e]), rel=1e-9)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / 'oof.csv'), oof, check_dtype=False)
    assert sorted(f.name for f in tmp_path.iterdir()) == sorted(['models.json', 'oof.csv', *(f'fold{k}{x}' for k in range(3)
                                                                   for x in ('.pkl', '.json', '.safetensors', '_oof.csv', '_history.csv'))])


def test_oof_scores_by_hand():
    table = pd.DataFrame({'eeg_id': [1, 2, 3], 'expert': [True, False, True],
                          **dict(zip(TARGETS, np.array([[1, 0, 0, 0, 0, 0], [.5, .5, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1.]]).T))})
    oof = pd.DataFrame({'eeg_id': [3, 1, 2], **dict(zip(TARGETS, np.array([[.1, .1, .1, .1, .1, .5], [.5, .1, .1, .1, .1, .1],
                                                                            [.25, .25, .125, .125, .125, .125]]).T))})
    # rows: eeg 1 → ln(1/.5) = ln 2; eeg 2 → .5·ln(.5/.25)·2 = ln 2; eeg 3 → ln(1/.5) = ln 2 … all ln 2
    assert oof_scores(table, oof) == pytest.approx({'kl': np.log(2), 'kl_expert': np.log(2)})
    oof.loc[oof.eeg_id == 2, TARGETS] = [[.5, .5, 0, 0, 0, 0]]       # a perfect row: 0 for eeg 2
    assert oof_scores(table, oof) == pytest.approx({'kl': 2 * np.log(2) / 3, 'kl_expert': np.log(2)})
    scores = oof_scores(table[~table.expert], oof[oof.eeg_id == 2])
    assert scores['kl'] == 0 and np.isnan(scores['kl_expert'])


def test_two_stage_refuses_a_second_stage_without_one_batch_of_expert_rows(fastai_data):
    train, _, table = fastai_data
    n = int((table.expert & (table.fold != 0)).sum())
    with pytest.raises(HMSDataError, match=f'has {n} expert training rows, fewer than one batch'):
        train_fold(table, train, fold=0, epochs=1, **{**TINY, 'bs': n + 1, 'epochs2': 1})


def test_pseudo_round_relabels_only_low_vote_training_rows_with_the_fold_model(fastai_data, tmp_path, monkeypatch):
    from hms_fastai.learn import recipes
    from hms_fastai.learn.exports import load_exported
    from hms_fastai.learn.data import hms_test_dl
    train, _, table = fastai_data
    first = train_folds(table, train, tmp_path / 'first', folds_used=[1], epochs=1, **{**TINY, 'bs': 4})
    seen = {}

    def spy(t, store, fold, *args, **kw):
        seen[fold] = t.copy()
        return real(t, store, fold, *args, **kw)

    real = recipes.train_fold
    monkeypatch.setattr(recipes, 'train_fold', spy)
    train_folds(table, train, tmp_path / 'second', folds_used=[1], epochs=1, pseudo=tmp_path / 'first', targets='eeg', **{**TINY, 'bs': 4})
    assert list(seen) == [1]
    for k, t in seen.items():
        assert t.index.equals(table.index)
        untouched = (table.fold == k) | (table.total_votes >= 10)               # validation rows and expert rows
        pd.testing.assert_frame_equal(t.loc[untouched, table.columns], table.loc[untouched])
        low = t[~untouched]
        assert len(low) and low.pseudo.all() and not t.loc[untouched, 'pseudo'].any()
        learn = load_exported(first.paths[0])                                  # the fold-k model, which never saw fold k
        preds, _ = learn.tta(dl=hms_test_dl(learn.dls, low, train))
        np.testing.assert_allclose(low[TARGETS].to_numpy(), 0.1 * table.loc[low.index, TARGETS].to_numpy() + 0.9 * preds.numpy(),
                                   atol=1e-5)


def test_a_pseudo_first_round_is_checked_before_any_training(fastai_data, tmp_path, monkeypatch):
    import json
    from hms_fastai.competition.meta import add_folds
    from hms_fastai.learn import recipes
    from hms_fastai.learn.runs import MANIFEST
    train, _, table = fastai_data
    first = tmp_path / 'first'
    train_folds(table, train, first, folds_used=[1], epochs=1, **{**TINY, 'bs': 4})
    monkeypatch.setattr(recipes, 'train_fold', lambda *a, **k: pytest.fail('trained before the first round was checked'))

    def second(t=table, **kw):
        return train_folds(t, train, tmp_path / 'second', epochs=1, pseudo=first, targets='eeg', **{**TINY, 'bs': 4, 'folds_used': [1], **kw})
    with pytest.raises(HMSDataError, match='first was trained on other folds .*saw rows this run validates on'):
        second(add_folds(table.drop(columns='fold'), 2))                    # its fold-1 model saw some of these fold-1 rows
    with pytest.raises(HMSDataError, match='has no model of fold\\(s\\) \\[0\\]'): second(folds_used=[0, 1])
    manifest = (first / MANIFEST).read_text()
    (first / MANIFEST).write_text(json.dumps({**json.loads(manifest), 'complete': False}))
    with pytest.raises(HMSDataError, match='the run is not finished'): second()
    (first / MANIFEST).write_text(manifest)
    (first / 'fold1.safetensors').write_bytes(b'altered')
    with pytest.raises(HMSDataError, match='the files of fold 1 are missing or altered'): second()
    assert not (tmp_path / 'second').exists()                                # nothing begun


def test_a_fold_short_of_one_batch_is_refused_before_any_training(fastai_data, tmp_path):
    train, _, table = fastai_data
    short = int((table.fold != 2).sum())                           # a fold trains on the others' rows
    with pytest.raises(HMSDataError, match=rf'^bs: fold \d has \d+ training rows, fewer than one batch \(bs={short + 1}\)'):
        train_folds(table, train, tmp_path / 'run', epochs=1, **{**TINY, 'bs': short + 1})
    assert not (tmp_path / 'run').exists() or not list((tmp_path / 'run').iterdir())   # nothing trained, nothing exported
