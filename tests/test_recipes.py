"""Recipes: best-epoch fold training, two-stage (expert rows), k folds with exports, OOF predictions and scores."""
import numpy as np
import pandas as pd
import pytest
import timm
import torch
from fastai.callback.core import Callback

from hms_fastai.constants import TARGETS
from hms_fastai.errors import HMSDataError
from hms_fastai.recipes import oof_scores, train_fold, train_folds, train_two_stage
from hms_fastai.score import kaggle_score

TINY = dict(arch='test_efficientnet', bs=8, flip=0, mask=0, seed=0)


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
    assert learn.model_dir == 'models'


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
    learn = train_two_stage(table, train, fold=2, epochs=(1, 1), **TINY)
    assert learn.dls.train_ds.items.expert.all() and len(learn.dls.train_ds) == (table.expert & (table.fold != 2)).sum()
    assert sorted(learn.dls.valid.items.eeg_id) == sorted(table.eeg_id[table.fold == 2])
    assert np.isfinite(learn.recorder.values[-1]).all()


@pytest.mark.parametrize('two_stage', [False, True])
def test_train_folds_exports_and_scores_out_of_fold(fastai_data, tmp_path, two_stage):
    train, _, table = fastai_data
    paths, oof, scores = train_folds(table.drop(columns='fold'), train, tmp_path, n_folds=3, two_stage=two_stage,
                                     epochs=(1, 1) if two_stage else 1, **{**TINY, 'bs': 4})
    assert paths == [tmp_path / f'fold{k}.pkl' for k in range(3)] and all(p.stat().st_size > 0 for p in paths)
    assert sorted(oof.eeg_id) == sorted(table.eeg_id) and list(oof.columns) == ['eeg_id', 'fold', *TARGETS]
    np.testing.assert_allclose(oof[TARGETS].sum(axis=1), 1, rtol=1e-5)
    assert scores['kl'] == pytest.approx(kaggle_score(table, oof))
    expert = table[table.expert]
    assert scores['kl_expert'] == pytest.approx(kaggle_score(expert, oof[oof.eeg_id.isin(expert.eeg_id)]))
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / 'oof.csv'), oof, check_dtype=False)
    assert sorted(f.name for f in tmp_path.iterdir()) == ['fold0.pkl', 'fold1.pkl', 'fold2.pkl', 'oof.csv']


def test_oof_scores_without_expert_rows_is_nan(fastai_data):
    _, _, table = fastai_data
    plain = table[~table.expert]
    oof = plain[['eeg_id', *TARGETS]].assign(**{t: 1 / 6 for t in TARGETS})
    scores = oof_scores(plain, oof)
    assert scores['kl'] == pytest.approx(kaggle_score(plain, oof)) and np.isnan(scores['kl_expert'])


def test_two_stage_refuses_a_second_stage_without_one_batch_of_expert_rows(fastai_data):
    train, _, table = fastai_data
    n = int((table.expert & (table.fold != 0)).sum())
    with pytest.raises(HMSDataError, match=f'has {n} expert training rows, fewer than one batch'):
        train_two_stage(table, train, fold=0, epochs=(1, 1), **{**TINY, 'bs': n + 1})
