"""Augmentation: hemisphere flip by name, stripe masks, soft MixUp; all off on validation and test."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from fastai.torch_core import TensorImage

from hms_fastai.core.constants import CHANNELS, TARGETS
from hms_fastai.learn.augment import (
    FreqMask,
    HemisphereFlip,
    SoftMixUp,
    TimeMask,
    flip_channels,
    flip_perm,
    hms_augs,
    stripe_mask,
)
from hms_fastai.learn.data import Votes, hms_dls, hms_test_dl
from hms_fastai.learn.learner import hms_learner

EEG_ONLY = ['eeg_LL', 'eeg_RL', 'eeg_LP', 'eeg_RP']


def test_flip_perm_swaps_left_and_right_by_name():
    assert [CHANNELS[i] for i in flip_perm(CHANNELS)] == ['spec_RL', 'spec_LL', 'spec_RP', 'spec_LP',
                                                          'eeg_RL', 'eeg_LL', 'eeg_RP', 'eeg_LP']
    assert flip_perm(EEG_ONLY) == [1, 0, 3, 2]
    with pytest.raises(ValueError, match='mirror'): flip_perm(['eeg_LL', 'eeg_LP'])
    with pytest.raises(ValueError, match='unknown'): flip_perm(['eeg_XX'])


def test_flip_channels_exact_and_an_involution():
    x = torch.randn(3, 8, 4, 5)
    f = flip_channels(x, CHANNELS)
    for a, b in [(0, 1), (2, 3), (4, 5), (6, 7)]:
        assert torch.equal(f[:, a], x[:, b]) and torch.equal(f[:, b], x[:, a])
    assert torch.equal(flip_channels(f, CHANNELS), x)
    assert torch.equal(flip_channels(x[0], CHANNELS), f[0])     # a single image too


def test_hemisphere_flip_per_sample_labels_unchanged():
    torch.manual_seed(0)
    x, y = TensorImage(torch.randn(64, 8, 4, 5)), Votes(torch.rand(64, 6))
    fx, fy = HemisphereFlip(p=0.5, channels=CHANNELS)((x, y), split_idx=0)
    flipped = (fx == flip_channels(x, CHANNELS)).flatten(1).all(1)
    same = (fx == x).flatten(1).all(1)
    assert torch.equal(fy, y) and bool((flipped ^ same).all()) and 10 < int(flipped.sum()) < 54
    assert torch.equal(HemisphereFlip(p=1.0, channels=CHANNELS)(x, split_idx=1), x)   # validation: off


def test_stripe_mask_widths_and_probability():
    torch.manual_seed(0)
    m = stripe_mask(1000, 256, n=2, max_width=0.1, p=0.5)
    assert m.shape == (1000, 256) and 400 < int(m.any(1).sum()) < 600
    edges = torch.diff(m.int(), dim=1, prepend=torch.zeros(1000, 1, dtype=torch.int))
    assert int((edges == 1).sum(1).max()) <= 2 and int(m.sum(1).max()) <= 2 * 25


@pytest.mark.parametrize('tfm, dim', [(TimeMask, -1), (FreqMask, -2)])
def test_masks_zero_whole_stripes_of_all_channels(tfm, dim):
    x = TensorImage(torch.rand(16, 8, 128, 256) + 1)
    out = tfm(p=1.0, n=2, max_width=0.2)(x, split_idx=0)
    zero = out == 0
    lines = zero.all(dim=(1, 2) if dim == -1 else (1, 3))       # (bs, columns) or (bs, rows) fully masked
    assert bool((zero.sum(dim=(1, 2, 3)) == lines.sum(1) * x.shape[1] * x.shape[-1 - (dim == -1)]).all())
    assert bool(lines.any(1).sum() > 12) and torch.equal(out[~zero], x[~zero])
    assert torch.equal(tfm(p=1.0)(x, split_idx=1), x)


def test_soft_mixup_same_lambda_for_inputs_and_targets():
    y = torch.distributions.Dirichlet(torch.ones(6)).sample((32,))
    x = TensorImage(y[:, :, None, None].expand(32, 6, 3, 3).clone())   # each image carries its own target
    cb = SoftMixUp(0.4)
    cb.learn = SimpleNamespace(xb=(x,), yb=(Votes(y),))
    cb.before_batch()
    mx, my = (cb.learn.xb[0].as_subclass(torch.Tensor), cb.learn.yb[0].as_subclass(torch.Tensor))
    torch.testing.assert_close(mx[:, :, 0, 0], my)                   # same λ and partner for x and y
    torch.testing.assert_close(my.sum(1), torch.ones(32))
    assert not torch.allclose(my, y)


def test_hms_augs_switches():
    assert hms_augs(flip=0, mask=False, mixup=0) == ([], [])
    tfms, cbs = hms_augs(flip=True, mask=0.3, mixup=0.4)
    assert [type(t) for t in tfms] == [HemisphereFlip, TimeMask, FreqMask] and tfms[0].p == 0.5 and tfms[1].p == 0.3
    assert len(cbs) == 1 and isinstance(cbs[0], SoftMixUp) and cbs[0].alpha == 0.4


def test_augs_on_in_training_off_in_validation_and_test(fastai_data):
    train, test, table = fastai_data
    tfms, cbs = hms_augs(flip=1.0, mask=1.0, mixup=0.4)
    dls = hms_dls(table, train, bs=4, batch_tfms=tfms, windows='centre', seed=0)   # centre: compared with the stored images
    ordered = dls.train.new(shuffle=False)
    x, _ = ordered.one_batch()                                         # training: flipped, then masked
    want = flip_channels(torch.from_numpy(train.images(ordered.items.eeg_id[:4])), CHANNELS)
    kept = x != 0
    assert bool((~kept).any()) and torch.equal(x[kept].as_subclass(torch.Tensor), want[kept])
    xv, yv = dls.valid.one_batch()
    np.testing.assert_array_equal(xv.numpy(), train.images(dls.valid.items.eeg_id[:4]))
    np.testing.assert_array_equal(hms_test_dl(dls, test.table, test, bs=6).one_batch()[0].numpy(),
                                  test.images(test.table.eeg_id))
    learn = hms_learner(dls, 'test_efficientnet', cbs=cbs)
    _, targs = learn.get_preds()                                       # MixUp does not touch validation targets
    np.testing.assert_allclose(targs.numpy(), dls.valid.items[TARGETS].to_numpy(np.float32))
