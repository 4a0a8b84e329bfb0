"""Training on 2 CPU processes (gloo) through accelerate's launcher: one run folder, the OOF of a single-process evaluation."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from hms_fastai.core.constants import TARGETS
from hms_fastai.learn.exports import load_exported


def test_two_processes_train_one_run_whose_oof_a_single_process_reproduces(synth_root, tmp_path):
    out = tmp_path / 'run'
    cmd = [sys.executable, '-m', 'hms_fastai.cli', 'train', '--data', str(synth_root), '--cache', str(tmp_path / 'cache'),
           '--out', str(out), '--arch', 'test_efficientnet', '--epochs', '1', '--epochs2', '0', '--folds', '2', '--bs', '8',
           '--channels', 'spec', '--processes', '2']
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'Launching training on 2 CPUs' in r.stdout
    assert '\r' not in r.stdout and '█' not in r.stdout                      # a pipe gets lines, not redrawn bars
    assert r.stdout.count('epoch      train_loss') == 2                        # rank 0 alone: one table per fold
    manifest = json.loads((out / 'models.json').read_text())
    assert manifest['complete'] and sorted(manifest['done']) == ['0', '1']            # one set of exports, one oof.csv
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(['models.json', 'oof.csv', *(f'fold{k}{x}' for k in range(2)
                                                         for x in ('.pkl', '.json', '.safetensors', '_oof.csv', '_history.csv'))])
    table = pd.read_csv(out / 'oof.csv')
    for k in (0, 1):
        learn = load_exported(out / f'fold{k}.json')                                   # a fresh, single process
        rows = table[table.fold == k]
        from hms_fastai.learn.data import hms_test_dl
        from hms_fastai.signals.store import Store
        store = Store.open(tmp_path / 'cache', channels=['spec_LL', 'spec_RL', 'spec_LP', 'spec_RP'])
        probs, _ = learn.get_preds(dl=hms_test_dl(learn.dls, rows, store))
        np.testing.assert_allclose(rows[TARGETS].to_numpy(), probs.numpy(), rtol=0, atol=1e-5)   # float32 on both sides
        history = pd.read_csv(out / f'fold{k}_history.csv')
        truth = pd.read_csv(synth_root / 'train.csv').groupby('eeg_id')[TARGETS].sum()
        y = truth.div(truth.sum(1), axis=0).loc[rows.eeg_id].to_numpy()
        p = np.clip(probs.numpy(), 1e-15, 1)
        kl = (y * np.log(np.where(y > 0, y, 1) / p)).sum(1).mean()
        assert history.valid_loss[history.kept].item() == pytest.approx(kl, abs=1e-4)  # the epoch's KL: the whole fold, not a shard
