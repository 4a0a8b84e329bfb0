"""The kind registry: a third kind is one registration, and then trains, exports and predicts through the same path."""
import numpy as np
import pytest
import torch
from fastai.torch_core import TensorBase

from hms_fastai.core.constants import HALVES, IMAGE_SHAPE
from hms_fastai.core.errors import HMSDataError
from hms_fastai.learn import kinds
from hms_fastai.learn.data import InputAssembly, dl_kind, hms_dls, hms_test_dl
from hms_fastai.learn.exports import load_exported
from hms_fastai.learn.kinds import Kind, get_kind, kind_names, register_kind
from hms_fastai.learn.learner import hms_learner
from hms_fastai.learn.recipes import train_folds
from hms_fastai.signals.image import spec_images


class SpectrumProfile(InputAssembly):
    """A batch's Kaggle crops → each region's mean log-power per frequency row: (B, 4, 128)."""

    def encodes(self, raw: dict) -> TensorBase:
        return TensorBase(spec_images(raw['spec']).mean(-1))


def linear(arch: str, n_in: int, n_out: int) -> torch.nn.Module:
    """The toy kind's one body: a linear layer on the profiles."""
    if arch != 'linear': raise ValueError(f'unknown toy body {arch!r}')
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(n_in * IMAGE_SHAPE[0], n_out))


@pytest.fixture
def toy(monkeypatch):
    """The registry with a third kind, 'profile', registered as a kind's module would (removed afterwards)."""
    monkeypatch.setattr(kinds, '_KINDS', dict(kinds._KINDS))
    return register_kind(Kind('profile', arch='linear', channels=tuple(HALVES['spec']), assembly=SpectrumProfile, model=linear,
                              input_shape=lambda n_in: (n_in, IMAGE_SHAPE[0]), flip=False))


def test_a_third_kind_trains_exports_and_predicts_through_the_same_path(toy, fastai_data, tmp_path):
    train, test, table = fastai_data
    assert kind_names() == ['image', 'signal', 'profile'] and get_kind('profile') is toy
    dls = hms_dls(table, train, kind='profile', bs=8)
    assert dl_kind(dls) is toy and dls.one_batch()[0].shape == (8, 4, IMAGE_SHAPE[0])
    trained = train_folds(table, train, tmp_path, kind='profile', epochs=1, epochs2=0, bs=8, seed=0)
    assert [p.name for p in trained.paths] == ['fold0.json', 'fold1.json', 'fold2.json']
    assert trained.params == 4 * IMAGE_SHAPE[0] * 6 + 6
    learn = load_exported(trained.paths[0])                              # rebuilt from its spec through the registry
    assert learn.hms_spec == {'kind': 'profile', 'arch': 'linear', 'n_in': 4, 'n_out': 6, 'head': {}}
    dl = hms_test_dl(learn.dls, test.table, test)
    x = torch.cat([b[0] for b in dl]).as_subclass(torch.Tensor)
    want = torch.softmax(learn.model.eval()(x), 1)
    torch.testing.assert_close(learn.tta(dl=dl)[0], want)                # no mirror pairs: TTA is the plain prediction
    np.testing.assert_allclose(want.sum(1).detach().numpy(), 1, rtol=1e-6)


def test_a_kind_checks_its_bodies_and_channels(toy, fastai_data):
    train, _, table = fastai_data
    with pytest.raises(HMSDataError, match="'mlp' is not a body for 4 input channels of kind 'profile'.*unknown toy body"):
        toy.check_body('mlp', 4)
    with pytest.raises(HMSDataError, match=r"the profile kind cannot read \['eeg_LL'\]"):
        hms_dls(table, train, kind='profile', bs=8, channels=['eeg_LL'])
    with pytest.raises(HMSDataError, match="unknown kind 'video'"): get_kind('video')
    with pytest.raises(HMSDataError, match="the signal kind reads all of"): get_kind('signal').input_channels(['Fp1-F7'])
    with pytest.raises(HMSDataError, match='has no pretrained weights'):
        hms_learner(hms_dls(table, train, kind='profile', bs=8), pretrained=True)
