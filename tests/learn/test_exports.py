"""Exports: weights-only forms load without unpickling and reproduce the pickle; pickles need trust; damaged files refused."""
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from hms_fastai.cli import main
from hms_fastai.core.constants import TARGETS
from hms_fastai.core.errors import HMSDataError
from hms_fastai.learn.data import hms_dls
from hms_fastai.learn.exports import export_learner, load_exported, load_learners
from hms_fastai.learn.infer import predict
from hms_fastai.learn.learner import hms_learner


class Payload:
    """A pickle that, when loaded, writes a file: the proof that code ran."""

    def __init__(self, marker): self.marker = str(marker)

    def __reduce__(self): return (os.system, (f'touch {self.marker}',))


@pytest.fixture(scope='module')
def exported(fastai_data, tmp_path_factory):
    """One tiny trained learner exported (both forms) → the .json path."""
    train, _, table = fastai_data
    learn = hms_learner(hms_dls(table, train, fold=0, bs=8, seed=0), 'test_efficientnet', seed=0)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-2)
    return export_learner(learn, tmp_path_factory.mktemp('export') / 'fold0.pkl')


def test_both_forms_are_written_and_the_spec_says_how_to_rebuild(exported):
    spec = json.loads(exported.read_text())
    assert exported.with_suffix('.pkl').is_file() and (exported.parent / spec['weights']).is_file()
    assert {k: spec[k] for k in ('kind', 'arch', 'n_in', 'n_out')} == {'kind': 'image', 'arch': 'test_efficientnet', 'n_in': 8, 'n_out': 6}
    assert spec['channels'][0] == 'spec_LL' and len(spec['sha256']) == 64 and spec['package']


def test_weights_only_reproduces_the_pickle_in_a_fresh_process(exported, synth_root, tmp_path):
    want = predict([exported.with_suffix('.pkl')], synth_root, tmp_path / 'cache', trust_pickle=True)
    r = subprocess.run([sys.executable, '-c', 'import sys, warnings\nwarnings.simplefilter("error", UserWarning)\n'
                        'from hms_fastai.learn.infer import predict\n'
                        'p = predict([sys.argv[1]], sys.argv[2], sys.argv[3])\n'
                        'p.to_csv(sys.argv[4], index=False)', str(exported), str(synth_root), str(tmp_path / 'cache2'),
                        str(tmp_path / 'got.csv')], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]                     # no fastai "insecure pickle" warning either
    got = pd.read_csv(tmp_path / 'got.csv')
    np.testing.assert_array_equal(got.eeg_id, want.eeg_id)
    np.testing.assert_allclose(got[TARGETS].to_numpy(), want[TARGETS].to_numpy(), rtol=0, atol=1e-7)
    code = ('import sys; from fastai.learner import load_learner; from hms_fastai.learn.data import hms_test_dl; '   # the fastai way
            'from hms_fastai.signals.store import Store; l = load_learner(sys.argv[1]); s = Store.open(sys.argv[2], "test"); '
            'print([s.table.eeg_id.tolist(), l.tta(dl=hms_test_dl(l.dls, s.table, s))[0].numpy().tolist()])')
    r = subprocess.run([sys.executable, '-c', code, str(exported.with_suffix('.pkl')), str(tmp_path / 'cache')], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    import ast
    ids, probs = ast.literal_eval(r.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(np.array(probs), want.set_index('eeg_id').loc[ids, TARGETS].to_numpy(), atol=1e-6)


@pytest.mark.parametrize('kind', ['plain pickle', 'torch.save zip'])
def test_a_malicious_pickle_never_runs_by_default(kind, tmp_path, synth_root):
    marker, path = tmp_path / 'ran', tmp_path / 'fold0.pkl'
    if kind == 'plain pickle': path.write_bytes(pickle.dumps(Payload(marker)))
    else: torch.save(Payload(marker), path)
    with pytest.raises(HMSDataError, match='a pickle runs code when loaded'): load_learners(path)
    assert main(['predict', '--data', str(synth_root), '--cache', str(tmp_path / 'c'), '--models', str(path),
                 '--out', str(tmp_path / 'sub.csv')]) == 2
    assert not marker.exists() and not (tmp_path / 'sub.csv').exists()


def test_damaged_exports_are_refused(exported, tmp_path):
    import shutil
    for f in exported.parent.iterdir(): shutil.copy(f, tmp_path / f.name)
    spec_path, weights = tmp_path / exported.name, tmp_path / 'fold0.safetensors'
    load_exported(spec_path)                                                     # intact: loads
    data = weights.read_bytes()
    weights.write_bytes(data[:len(data) // 2])                                   # truncated
    with pytest.raises(HMSDataError, match='do not match fold0.json'): load_exported(spec_path)
    weights.write_bytes(b'not safetensors at all')
    spec = json.loads(spec_path.read_text())
    spec_path.write_text(json.dumps({**spec, 'sha256': __import__('hashlib').sha256(b'not safetensors at all').hexdigest()}))
    with pytest.raises(HMSDataError, match='not a readable safetensors file'): load_exported(spec_path)
    weights.write_bytes(data)
    spec_path.write_text(json.dumps({**spec, 'head': {'lin_ftrs': [16]}}))     # the tensors do not fit the spec
    with pytest.raises(HMSDataError, match='its tensors do not fit test_efficientnet with n_in=8'): load_exported(spec_path)
    spec_path.write_text(json.dumps({**spec, 'n_in': 4}))
    with pytest.raises(HMSDataError, match="'n_in' is 4, not its 8 channels"): load_exported(spec_path)
    spec_path.write_text('{"format": 1')
    with pytest.raises(HMSDataError, match='not a readable export spec'): load_exported(spec_path)
    (tmp_path / 'fold0.json').unlink()
    with pytest.raises(HMSDataError, match='exported learner not found'): load_exported(tmp_path / 'fold0.json')


def test_trusted_pickle_loads_the_fastai_way(exported):
    learn = load_exported(exported.with_suffix('.pkl'), trust_pickle=True)
    assert type(learn).__name__ == 'HMSLearner' and len(learn.dls.train_ds) == 0
