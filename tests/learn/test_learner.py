"""The HMS learner: timm bodies with n_in channels, KL objective, training works, local pretrained weights, export."""

import numpy as np
import pytest
import timm
import torch
from fastai.learner import load_learner
from timm.models import adapt_input_conv

from hms_fastai.core.constants import TARGETS
from hms_fastai.core.errors import HMSDataError
from hms_fastai.learn.data import hms_dls, hms_test_dl
from hms_fastai.learn.image import timm_body
from hms_fastai.learn.learner import hms_learner
from hms_fastai.learn.metrics import KLDivLossFlat

TINY = 'test_efficientnet'   # timm's 0.1 M-parameter test net: fast on CPU


@pytest.fixture(scope='module')
def dls(fastai_data):
    train, _, table = fastai_data
    return hms_dls(table, train, fold=0, bs=8, seed=0)


def _body_params(learn) -> dict:
    return {k: v.detach().clone() for k, v in timm_body(learn).named_parameters()}


def test_defaults_kl_objective_nothing_frozen(dls):
    learn = hms_learner(dls, TINY, seed=0)
    assert isinstance(learn.loss_func, KLDivLossFlat) and [m.name for m in learn.metrics] == ['kl_expert']
    assert timm_body(learn).conv_stem.in_channels == 8
    assert all(p.requires_grad for p in learn.model.parameters())
    out = learn.model.eval()(torch.zeros(2, 8, 128, 256))
    assert out.shape == (2, 6)


@pytest.mark.parametrize('arch', ['resnet34d', 'resnet34', 'efficientnet_b0'])
def test_named_timm_archs_take_the_dls_channels(fastai_data, arch):
    train, _, table = fastai_data
    learn = hms_learner(hms_dls(table, train, channels='spec', bs=8), arch)
    assert learn.hms_spec == {'kind': 'image', 'arch': arch, 'n_in': 4, 'n_out': 6, 'head': {}}
    with torch.no_grad(): assert learn.model.eval()(torch.zeros(1, 4, 128, 256)).shape == (1, 6)


def test_lr_find_and_fit_train_every_parameter_preds_sum_to_one(dls):
    learn = hms_learner(dls, TINY, seed=0)
    before = {k: v.detach().clone() for k, v in learn.model.named_parameters()}
    with learn.no_bar(): suggestion = learn.lr_find(num_it=8, show_plot=False)
    assert np.isfinite(suggestion.valley) and all(torch.equal(before[k], v) for k, v in learn.model.named_parameters())
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(2, 1e-2)
    assert len(learn.recorder.values) == 2 and np.isfinite(learn.recorder.values).all()
    assert not [k for k, v in learn.model.named_parameters() if torch.equal(before[k], v)]   # every tensor was trained
    probs, targs = learn.get_preds()
    torch.testing.assert_close(probs.sum(1), torch.ones(len(probs)))
    np.testing.assert_allclose(targs.numpy(), dls.valid.items[TARGETS].to_numpy(np.float32))


def test_fine_tune_changes_the_body(dls):
    learn = hms_learner(dls, TINY, seed=0)
    before = _body_params(learn)
    with learn.no_bar(), learn.no_logging(): learn.fine_tune(1, freeze_epochs=1)
    after = _body_params(learn)
    assert all(p.requires_grad for p in learn.model.parameters())
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert 'conv_stem.weight' in before and not unchanged, unchanged


@pytest.mark.parametrize('fmt', ['pth', 'safetensors'])
def test_local_pretrained_weights_adapt_first_conv_and_freeze(dls, tmp_path, fmt):
    src = timm.create_model('resnet18').state_dict()
    path = tmp_path / f'resnet18.{fmt}'
    if fmt == 'pth': torch.save(src, path)
    else:
        from safetensors.torch import save_file
        save_file(src, path)
    learn = hms_learner(dls, 'resnet18', pretrained=path)
    body = timm_body(learn)
    torch.testing.assert_close(body.conv1.weight, adapt_input_conv(8, src['conv1.weight']))
    torch.testing.assert_close(body.layer3[1].conv2.weight, src['layer3.1.conv2.weight'])
    assert not body.conv1.weight.requires_grad and all(p.requires_grad for p in learn.model[1].parameters())


def test_missing_weights_file_refused(dls, tmp_path):
    with pytest.raises(HMSDataError, match='no such weights file'): hms_learner(dls, TINY, pretrained=tmp_path / 'x.pth')


def test_export_is_small_and_predicts_the_test_store_after_loading(fastai_data, dls, tmp_path):
    _, test, _ = fastai_data
    learn = hms_learner(dls, TINY, seed=0)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-3)
    learn.export(tmp_path / 'model.pkl')
    weights = sum(v.numel() * v.element_size() for v in learn.model.state_dict().values())
    assert (tmp_path / 'model.pkl').stat().st_size < weights + 2_000_000   # no images or memory maps inside
    loaded = load_learner(tmp_path / 'model.pkl', cpu=True)
    want, _ = learn.get_preds(dl=hms_test_dl(learn.dls, test.table, test))
    got, _ = loaded.get_preds(dl=hms_test_dl(loaded.dls, test.table, test))
    torch.testing.assert_close(got, want)
    assert got.shape == (len(test.table), 6)
