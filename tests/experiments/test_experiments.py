"""Experiments: real archs in the registry, every config on the same folds, the tables, the control's columns, the CLI."""
import importlib.machinery
import sys
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import timm
import torch
from fastai.callback.core import Callback
from fastai.losses import CrossEntropyLossFlat

from hms_fastai.cli import main
from hms_fastai.competition.blend import read_blend
from hms_fastai.competition.io import load_competition, read_spectrogram
from hms_fastai.competition.score import kaggle_score
from hms_fastai.core.constants import CLASSES, REGIONS, SPEC_COLUMNS, SPEC_WINDOW, TARGETS
from hms_fastai.core.errors import HMSDataError
from hms_fastai.experiments.configs import CONFIGS, REFERENCES, EnsembleConfig, TabularConfig, TrainConfig
from hms_fastai.experiments.naive import VOCAB, naive_frame, naive_probs
from hms_fastai.experiments.results import RESULT_COLUMNS
from hms_fastai.experiments.runners import run_experiments
from hms_fastai.experiments.tabular import FEATURE_WINDOWS, spec_feature_names, spec_features, tabular_cv, tabular_fold, window_features
from hms_fastai.learn.data import hms_test_dl
from hms_fastai.learn.exports import load_learners
from hms_fastai.learn.image import timm_body
from hms_fastai.signals.prepare import prepare

pytestmark = pytest.mark.usefixtures('one_thread')   # tiny models on one torch thread

TINY = dict(n_folds=2, epochs=1, epochs2=0, bs=8)
COLUMNS = RESULT_COLUMNS


def tiny(cfg):
    """A registry config on timm's 0.1 M-parameter test net (members too), everything else as registered."""
    if isinstance(cfg, EnsembleConfig): return replace(cfg, members=tuple(map(tiny, cfg.members)))
    if getattr(cfg, 'kind', None) == 'signal': return cfg                   # its 1D body is small already
    return replace(cfg, arch='test_efficientnet') if hasattr(cfg, 'arch') else cfg


@pytest.fixture(scope='module')
def run(synth_root, tmp_path_factory):
    """Every registered config, tiny: 2 folds, 1 epoch, the test arch; → (results table, output folder, cache)."""
    base = tmp_path_factory.mktemp('experiments')
    configs = {n: tiny(c) for n, c in CONFIGS.items()}
    return run_experiments(synth_root, base / 'cache', base / 'out', configs=configs, **TINY), base / 'out', base / 'cache'


def _learner_paths(out: Path, name: str) -> list[Path]:
    """The exported learners behind a config's submission."""
    return [Path(p) for p in (out / name / 'learners.txt').read_text().split()]


def test_every_config_runs_on_the_same_folds(run, synth_root):
    table, out, _ = run
    assert list(table.columns) == COLUMNS and sorted(table.config) == sorted([*CONFIGS, *REFERENCES])
    assert table.cv_kl.is_monotonic_increasing and np.isfinite(table[['cv_kl', 'test_kl', 'wall_s']].to_numpy()).all()
    pd.testing.assert_frame_equal(pd.read_csv(out / 'results.csv'), table, check_dtype=False)
    md = (out / 'results.md').read_text()
    assert md.startswith('| ' + ' | '.join(COLUMNS)) and all(f'| {n} |' in md for n in table.config)
    solution = pd.read_csv(synth_root / 'test_solution.csv')
    train_ids = sorted(load_competition(synth_root).train.eeg_id.unique())
    folds = []
    for r in table.itertuples():
        sub = pd.read_csv(out / r.config / 'submission.csv')
        assert list(sub.columns) == ['eeg_id', *TARGETS] and kaggle_score(solution, sub) == pytest.approx(r.test_kl)
        oof = pd.read_csv(out / r.config / 'oof.csv')
        assert sorted(oof.eeg_id) == train_ids
        folds.append(oof.set_index('eeg_id').fold.sort_index())
        if r.config not in ('tabular', 'ensemble', 'blend', *REFERENCES):   # exported learners behind the submission
            assert len(_learner_paths(out, r.config)) == r.learners and all(p.is_file() for p in _learner_paths(out, r.config))
    assert all(f.equals(folds[0]) for f in folds) and folds[0].nunique() == 2
    assert table.set_index('config').loc[['prior', 'uniform'], 'learners'].eq(0).all()


def test_ensemble_oof_is_the_mean_of_its_members(run):
    table, out, _ = run
    paths = _learner_paths(out, 'resnet34d_ens6')
    members = list(dict.fromkeys(p.parent for p in paths))
    assert len(members) == 6 and len(paths) == 12 == table.set_index('config').learners['resnet34d_ens6']
    mean = pd.concat([pd.read_csv(m / 'oof.csv') for m in members]).groupby('eeg_id')[TARGETS].mean()
    ens = pd.read_csv(out / 'resnet34d_ens6' / 'oof.csv').set_index('eeg_id').sort_index()
    np.testing.assert_allclose(ens[TARGETS], mean.loc[ens.index], atol=1e-6)
    assert out / 'resnet34d_spec' in members            # the seed-0 spectrogram member is the resnet34d_spec row's training


def test_equal_ensemble_and_fitted_blend_of_members(run):
    table, out, _ = run
    members = CONFIGS['blend'].members
    oof = {m: pd.read_csv(out / m / 'oof.csv').set_index('eeg_id').sort_index()[TARGETS] for m in members}
    equal = pd.read_csv(out / 'ensemble' / 'oof.csv').set_index('eeg_id').sort_index()[TARGETS]
    np.testing.assert_allclose(equal, sum(oof.values()) / len(oof), atol=1e-9)
    w = read_blend(out / 'blend' / 'blend.json').weights
    blended = pd.read_csv(out / 'blend' / 'oof.csv').set_index('eeg_id').sort_index()[TARGETS]
    np.testing.assert_allclose(blended, sum(w[m] * oof[m] for m in members), atol=1e-9)
    assert set(w) == set(members) and abs(sum(w.values()) - 1) < 1e-9 and 'held out' in table.set_index('config').model['blend']
    assert table.set_index('config').model['pseudo_resnet34d_spec'].endswith('pseudo-labels < 10 votes, keep 0.1')


def test_naive_control_writes_vocab_columns(run, synth_root):
    _, out, cache = run
    learn = load_learners(out / 'naive_fastai_resnet34' / 'fold0.pkl', trust_pickle=True)[0]   # a pickle only
    assert list(learn.dls.vocab) == VOCAB and isinstance(learn.loss_func, CrossEntropyLossFlat)
    assert not timm_body(learn).conv_stem.weight.requires_grad                     # the random body stayed frozen
    test = prepare(synth_root, cache, 'test')
    raw = naive_probs(learn, hms_test_dl(learn.dls, test.table, test), tta=False)  # the learner's outputs, vocab order
    written = naive_frame(test.table.eeg_id, raw)[TARGETS].to_numpy()
    correct = raw[:, [VOCAB.index(c) for c in CLASSES]]                            # what TARGETS order would hold
    np.testing.assert_array_equal(written, correct[:, [CLASSES.index(v) for v in VOCAB]])
    assert [np.allclose(written[:, j], correct[:, j]) for j in range(6)] == [t == 'lrda_vote' for t in TARGETS]


def test_window_features_on_a_hand_made_spectrogram():
    t, col = np.arange(SPEC_WINDOW, dtype=np.float32), np.arange(len(SPEC_COLUMNS), dtype=np.float32)
    a, b = np.sin(t / 7), (col % 100) / 50                   # log power a[time] + b[bin]: inside the clip range
    logp = a[:, None] + b[None, :]
    logp[:, 300:] = 20                                       # RP: above e^8, clipped to 8
    x = np.exp(logp)
    x[150, :100] = np.nan                                    # one missing LL row inside the central 20 s
    f = pd.Series(window_features(x[None], bands=10)[0], spec_feature_names(10))
    band0 = b[:10].mean()
    assert f['LL_0.59-2.34Hz_mean_10m'] == pytest.approx(np.delete(a, 150).mean() + band0, abs=1e-5)
    assert f['RL_0.59-2.34Hz_min_10m'] == pytest.approx(a.min() + band0, abs=1e-5)
    assert f['LL_0.59-2.34Hz_mean_20s'] == pytest.approx(np.delete(a[145:155], 5).mean() + band0, abs=1e-5)
    assert f['LP_0.59-2.34Hz_min_20s'] == pytest.approx(a[145:155].min() + band0, abs=1e-5)
    np.testing.assert_allclose(f[[n for n in f.index if n.startswith('RP_')]], 8, rtol=1e-6)
    per_bin = pd.Series(window_features(x[None], bands=100)[0], spec_feature_names(100))
    assert len(per_bin) == len(SPEC_COLUMNS) * 4 and per_bin['LL_19.92Hz_min_10m'] == pytest.approx(a.min() + b[99], abs=1e-5)
    assert list(FEATURE_WINDOWS) == ['10m', '20s'] and len(spec_feature_names(10)) == len(REGIONS) * 10 * 4


def test_spec_features_read_the_right_crops(fastai_data, synth_root, recipe):
    train, _, _ = fastai_data
    got = spec_features(train).set_index('eeg_id')
    comp, r = load_competition(synth_root), recipe(synth_root)
    sid = r.csv.groupby('eeg_id').spectrogram_id.first()
    for e, c in r.centre().iterrows():
        row = int(c.spec_s // 2)                                   # the seed's int((min + max) // 4)
        spec = read_spectrogram(comp.spec_path(sid[e]))[SPEC_COLUMNS].to_numpy()[row:row + SPEC_WINDOW]
        crop = np.vstack([spec, np.full((SPEC_WINDOW - len(spec), len(SPEC_COLUMNS)), np.nan)])
        np.testing.assert_allclose(got.loc[e], window_features(crop[None])[0], rtol=0, atol=5e-4, equal_nan=True)
        # float16 spectrogram rows in the store: each log power within 2^-11 ≈ 4.9e-4, and so their means and minima


def test_spec_features_work_is_one_gather_per_batch(fastai_data, monkeypatch):
    import hms_fastai.experiments.tabular as tabular
    from hms_fastai.signals.store import Store
    calls = {'Store()': 0, 'raw': 0, 'with_channels': 0}
    for name, key in (('__init__', 'Store()'), ('raw', 'raw'), ('with_channels', 'with_channels')):
        def counted(self, *a, _f=getattr(Store, name), _k=key, **k):
            calls[_k] += 1
            return _f(self, *a, **k)
        monkeypatch.setattr(Store, name, counted)
    monkeypatch.setattr(tabular, '_BATCH', 4)
    work = {}
    for store in fastai_data[:2]:                                    # 24 train eegs, 6 test eegs
        calls.update(dict.fromkeys(calls, 0))
        assert len(spec_features(store)) == len(store)
        work[len(store)] = dict(calls)
    assert work == {24: {'Store()': 0, 'raw': 6, 'with_channels': 6}, 6: {'Store()': 0, 'raw': 2, 'with_channels': 2}}


class SpoilLastEpoch(Callback):
    """Make the last epoch's model wildly overconfident (its output layer ×1e4), so that it is not the best epoch."""

    def after_train(self):
        if self.epoch == self.n_epoch - 1:
            last = [m for m in self.learn.model.modules() if isinstance(m, torch.nn.Linear)][-1]
            with torch.no_grad(): last.weight.mul_(1e4)


def test_tabular_fold_keeps_the_best_epoch(fastai_data):
    train, _, table = fastai_data
    data = table.merge(spec_features(train).fillna(0), on='eeg_id')           # tabular_cv fills NaN with medians
    learn = tabular_fold(data, spec_feature_names(), 0, epochs=3, lr=1e-3, bs=4, seed=0, cbs=[SpoilLastEpoch()])
    recorded = [v[1] for v in learn.recorder.values]
    assert recorded[-1] > 100 * min(recorded[:-1])                              # the spoiled last epoch is the worst
    with learn.no_bar(): assert learn.validate()[0] == pytest.approx(min(recorded), rel=1e-4)


class _StandIn:
    """A CatBoostClassifier stand-in: predicts the weighted class distribution of what it was fitted on."""

    def __init__(self, **kwargs): self.kwargs = kwargs

    def fit(self, x, y, sample_weight):
        self.classes_ = np.unique(y)
        self.dist = np.bincount(y, sample_weight, minlength=len(TARGETS))[self.classes_] / sample_weight.sum()

    def predict_proba(self, x): return np.tile(self.dist, (len(x), 1))


def test_catboost_only_when_installed_and_asked(fastai_data, synth_root, tmp_path, monkeypatch):
    train, test, table = fastai_data
    data, feats = table.merge(spec_features(train), on='eeg_id'), spec_feature_names()
    stand_in = types.ModuleType('catboost')
    stand_in.CatBoostClassifier, stand_in.__spec__ = _StandIn, importlib.machinery.ModuleSpec('catboost', None)
    monkeypatch.setitem(sys.modules, 'catboost', stand_in)
    oof, probs, _ = tabular_cv(data, spec_features(test), feats, catboost=True)
    for k in range(3):
        prior = table[table.fold != k][TARGETS].mean().to_numpy()       # soft votes as weighted hard labels
        np.testing.assert_allclose(oof[oof.fold == k][TARGETS], np.tile(prior, ((oof.fold == k).sum(), 1)))
    np.testing.assert_allclose(probs.sum(1), 1)
    cfg = {'cb': TabularConfig(catboost=True, epochs=1)}
    asked = run_experiments(synth_root, tmp_path / 'cache', tmp_path / 'a', configs=cfg, n_folds=2)
    assert asked.set_index('config').model['cb'].startswith('CatBoost')
    monkeypatch.setitem(sys.modules, 'catboost', None)                  # not installed
    with pytest.warns(UserWarning, match='catboost is not installed'):
        absent = run_experiments(synth_root, tmp_path / 'cache', tmp_path / 'b', configs=cfg, n_folds=2)
    assert absent.set_index('config').model['cb'].startswith('tabular_learner')


def test_cli_prints_the_table(synth_root, tmp_path, capsys):
    args = ['experiments', '--data', str(synth_root), '--cache', str(tmp_path / 'cache'), '--out', str(tmp_path / 'out')]
    assert main([*args, '--only', 'tabular', '--folds', '2', '--epochs', '1', '--bs', '8']) == 0
    lines = capsys.readouterr().out.splitlines()
    head = lines.index('| ' + ' | '.join(COLUMNS) + ' |')
    assert sorted(l.split(' | ')[0][2:] for l in lines[head + 2:head + 5]) == ['prior', 'tabular', 'uniform']
    assert main([*args, '--only', 'tabular', 'nope']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown config(s) ['nope']" in err[0]
    with pytest.raises(HMSDataError, match='epochs'): run_experiments(synth_root, tmp_path / 'c', tmp_path / 'o', epochs={'nope': 1})


def test_two_stage_config_from_local_weights(synth_root, tmp_path):
    torch.save(timm.create_model('test_efficientnet').state_dict(), tmp_path / 'w.pth')
    cfg = {'two': TrainConfig(arch='test_efficientnet', channels='spec', epochs=1, epochs2=1, bs=2, pretrained=tmp_path / 'w.pth')}
    table = run_experiments(synth_root, tmp_path / 'cache', tmp_path / 'out', configs=cfg, n_folds=2).set_index('config')
    assert table.model['two'] == 'test_efficientnet · 4 ch · 1 + 1 expert ep · random windows' and table.learners['two'] == 2
    assert np.isfinite(table.loc['two', ['cv_kl', 'cv_kl_expert', 'test_kl']].astype(float)).all()
    assert len(_learner_paths(tmp_path / 'out', 'two')) == 2
