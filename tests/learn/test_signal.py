"""The signal kind (raw EEG): band-pass, windows of the 16 chains, the fastai conventions, exports, chain-swap TTA, vote weights."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from hms_fastai.core.constants import TARGETS
from hms_fastai.learn.data import EEGSignal, Votes, hms_dls, hms_test_dl
from hms_fastai.learn.exports import export_learner, load_learners
from hms_fastai.learn.learner import hms_learner
from hms_fastai.learn.signal import SIGNAL_RATE, band_pass
from hms_fastai.learn.recipes import train_fold, train_folds

PAIRS = [('Fp1', 'F7'), ('F7', 'T3'), ('T3', 'T5'), ('T5', 'O1'), ('Fp2', 'F8'), ('F8', 'T4'), ('T4', 'T6'), ('T6', 'O2'),
         ('Fp1', 'F3'), ('F3', 'C3'), ('C3', 'P3'), ('P3', 'O1'), ('Fp2', 'F4'), ('F4', 'C4'), ('C4', 'P4'), ('P4', 'O2')]
SWAP = [4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11]     # LL ↔ RL, LP ↔ RP chain by chain


def _chains(root, eeg_id, start) -> np.ndarray:
    """(10000, 16) bipolar differences of a window, from the parquet file with pandas (not the package)."""
    eeg = pd.read_parquet(root / 'train_eegs' / f'{eeg_id}.parquet')
    return np.stack([eeg[a].to_numpy(np.float32) - eeg[b].to_numpy(np.float32) for a, b in PAIRS], 1)[start:start + 10_000]


def test_band_pass_keeps_the_band_and_drops_the_rest():
    t = np.arange(10_000) / 200
    x = np.zeros((2, 10_000, 16), np.float32)
    x[0, :, 0] = 100 * np.sin(2 * np.pi * 10 * t)                 # in band
    x[0, :, 1] = 100 * np.sin(2 * np.pi * 0.1 * t) + 300          # below, plus DC
    x[0, :, 2] = 100 * np.sin(2 * np.pi * 40 * t)                 # above
    x[0, :, 5] = 100 * np.sin(2 * np.pi * 5 * t)                  # in band
    x[1, :, 3] = 5000 * np.sin(2 * np.pi * 5 * t)                 # an artefact: clipped to ±1024 µV
    x[1, 2000:3000, 4] = np.nan
    y = band_pass(torch.from_numpy(x)).numpy()
    assert y.shape == (2, 16, 10_000 * SIGNAL_RATE // 200) and np.isfinite(y).all()
    mid = slice(250, -250)                                         # away from the window's wrap-around edges
    assert abs(y[0, 0, mid].std() * np.sqrt(2) - 1.0) < 0.02        # 100 µV sine → amplitude 1 (÷ 100)
    assert y[0, 1, mid].std() < 0.02 and y[0, 2, mid].std() < 0.01
    gain_db = lambda c: 20 * np.log10(y[0, c, mid].std() * np.sqrt(2) / 1.0 + 1e-12)   # output amplitude over the input's
    assert abs(gain_db(5)) < 0.1 and gain_db(2) < -60             # measured: 5 Hz kept within 0.1 dB, 40 Hz down > 60 dB
    assert np.abs(y[1, 3]).max() == pytest.approx(10.24, rel=1e-6)


@pytest.fixture(scope='module')
def dls(fastai_data):
    train, _, table = fastai_data
    return hms_dls(table, train, fold=0, kind='signal', bs=8, windows='random', seed=0)


def test_batches_are_the_chains_of_label_windows(dls, fastai_data, synth_root, recipe):
    r = recipe(synth_root)
    xb, yb = dls.valid.one_batch()
    assert isinstance(xb, EEGSignal) and xb.shape == (8, 16, 2500) and isinstance(yb, Votes)
    centre = r.centre()
    for x, e in zip(xb, dls.valid.items.eeg_id):                   # validation: the centre window
        want = band_pass(torch.from_numpy(_chains(synth_root, e, int(centre.eeg_start[e])))[None])[0]
        torch.testing.assert_close(x.as_subclass(torch.Tensor), want, rtol=0, atol=1e-4)   # the store's int16 steps
    dl = dls.train.new(shuffle=False, drop_last=False)
    x = torch.cat([b[0] for b in dl]).as_subclass(torch.Tensor)
    for xi, e in zip(x, dl.items.eeg_id):                           # training: one of the eeg's label windows
        dist = [float((xi - band_pass(torch.from_numpy(_chains(synth_root, e, t))[None])[0]).abs().max()) for _, t in r.windows(e)]
        assert min(dist) < 1e-4, (e, dist)                        # the int16 steps, as above


def test_fastai_conventions_and_chain_swap_tta(dls, fastai_data, tmp_path):
    _, test, _ = fastai_data
    learn = hms_learner(dls, seed=0)
    with learn.no_bar(): assert np.isfinite(learn.lr_find(num_it=5, show_plot=False).valley)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-3)
    probs, _ = learn.get_preds()
    torch.testing.assert_close(probs.sum(1), torch.ones(len(probs)))
    tdl = hms_test_dl(learn.dls, test.table, test)
    x = torch.cat([b[0] for b in tdl]).as_subclass(torch.Tensor)
    with torch.no_grad():
        model = learn.model.eval()
        want = (torch.softmax(model(x), 1) + torch.softmax(model(x[:, SWAP]), 1)) / 2
    torch.testing.assert_close(learn.tta(dl=tdl)[0], want, rtol=0, atol=1e-6)
    path = export_learner(learn, tmp_path / 'raw.pkl')
    code = ('import sys, torch; from hms_fastai.learn.exports import load_learners; from hms_fastai.learn.data import hms_test_dl; '
            'from hms_fastai.signals.store import Store; s = Store.open(sys.argv[2], "test"); l = load_learners(sys.argv[1])[0]; '
            'torch.save(l.tta(dl=hms_test_dl(l.dls, s.table, s))[0], sys.argv[3])')
    r = subprocess.run([sys.executable, '-c', code, str(path), str(test.cache), str(tmp_path / 'p.pt')], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    torch.testing.assert_close(torch.load(tmp_path / 'p.pt'), want, rtol=0, atol=1e-6)   # weights-only, fresh process


def test_two_stage_folds_with_oof_and_exports(fastai_data, tmp_path):
    train, _, table = fastai_data
    learn = train_fold(table, train, fold=2, kind='signal', epochs=1, epochs2=1, bs=4, seed=0)
    assert learn.dls.train_ds.items.expert.all() and learn.hms_spec['kind'] == 'signal'
    trained = train_folds(table, train, tmp_path, kind='signal', epochs=1, epochs2=0, bs=8, seed=0)
    assert sorted(trained.oof.eeg_id) == sorted(table.eeg_id) and [p.name for p in trained.paths] == ['fold0.json', 'fold1.json', 'fold2.json']
    assert len(load_learners(tmp_path)) == 3


def test_vote_weights_scale_training_targets_only(fastai_data):
    train, _, table = fastai_data
    d = hms_dls(table, train, fold=0, kind='signal', bs=8, windows='centre', vote_weight=True)
    ys = torch.cat([y for _, y in d.train.new(shuffle=False, drop_last=False)]).numpy()
    rows = d.train.items
    np.testing.assert_allclose(ys, rows[TARGETS].to_numpy() * (rows.total_votes.to_numpy()[:, None] / 20), rtol=1e-6)
    yv = torch.cat([y for _, y in d.valid]).numpy()
    np.testing.assert_allclose(yv, d.valid.items[TARGETS].to_numpy(), rtol=1e-6)


def test_signal_batches_show_as_labelled_traces(dls):
    import matplotlib.pyplot as plt
    dls.show_batch(max_n=2)
    axes = plt.gcf().axes
    assert len(axes) == 2 and [t.get_text() for t in axes[0].get_yticklabels()] == dls.train.after_batch[0].channels
    assert len(axes[0].lines) == 16 and axes[0].get_title().startswith('Seizure ')
    plt.close('all')
