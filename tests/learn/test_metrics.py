"""The fastai KL loss (softmax activation, argmax decodes) and the Kaggle-KL validation metrics."""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from hms_fastai.competition.score import kl_rows
from hms_fastai.learn.metrics import KLDivLossFlat, KLMetric


def test_loss_is_batch_mean_kl_of_softmax():
    torch.manual_seed(0)
    logits, y = torch.randn(16, 6), torch.distributions.Dirichlet(torch.full((6,), 0.4)).sample((16,))
    y[0] = torch.tensor([1., 0, 0, 0, 0, 0])
    lf = KLDivLossFlat()
    want = kl_rows(y.numpy(), torch.softmax(logits, -1).double().numpy()).mean()
    assert lf(logits, y).item() == pytest.approx(want, rel=1e-5)
    assert KLDivLossFlat('none')(logits, y).shape == (16,)
    probs = lf.activation(logits)
    torch.testing.assert_close(probs.sum(-1), torch.ones(16))
    assert (lf.decodes(probs) == logits.argmax(-1)).all()


def test_vote_weighted_targets_weigh_each_rows_loss_and_gradient():
    # a hand-made batch: rows of 2, 12 and 20 votes; vote_weight scales each training target by total_votes / 20
    logits = torch.tensor([[2., 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 3]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[1., 0, 0, 0, 0, 0], [.5, .5, 0, 0, 0, 0], [0, 0, 0, 0, .25, .75]], dtype=torch.float64)
    w = torch.tensor([2., 12, 20], dtype=torch.float64)[:, None] / 20
    p = torch.softmax(logits, -1).detach()
    kl = kl_rows(y.numpy(), p.numpy())
    loss = KLDivLossFlat()(logits, y * w)
    # the value: each row's w·KL plus the constant w·ln w (no gradient); the gradient: w times the plain row's, exactly
    assert loss.item() == pytest.approx(float(np.mean(w[:, 0].numpy() * (kl + np.log(w[:, 0].numpy())))), rel=1e-6)   # float32 loss
    loss.backward()
    torch.testing.assert_close(logits.grad, w * (p - y) / 3, rtol=1e-5, atol=1e-7)


def test_metric_all_and_expert_rows():
    p = np.array([[0.5, 0.5, 0, 0, 0, 0], [1 / 6] * 6, [0.25, 0.75, 0, 0, 0, 0]])
    y = np.array([[1., 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0]])
    items = pd.DataFrame({'expert': [True, False, True]})
    metrics = [KLMetric(), KLMetric(expert_only=True)]
    for m in metrics:
        m.reset()
        for i in range(0, 3, 2):
            pred = torch.log(torch.tensor(p[i:i + 2]).clamp_min(1e-30))        # logits whose softmax is p
            m.accumulate(SimpleNamespace(pred=pred, y=torch.tensor(y[i:i + 2]), dl=SimpleNamespace(items=items),
                                         to_detach=lambda t: t.detach().cpu()))
    assert metrics[0].value == pytest.approx(kl_rows(y, p).mean(), rel=1e-5)
    assert metrics[1].value == pytest.approx(kl_rows(y[[0, 2]], p[[0, 2]]).mean(), rel=1e-5)
    assert [m.name for m in metrics] == ['kl', 'kl_expert']
