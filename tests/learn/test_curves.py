"""Live curves: every fit of a run logged through fastai's TensorBoardCallback, a folder per fold and fit, the same figures
as the fold's history; refused in one line without the tensorboard package."""
import sys
import types
import warnings
from pathlib import Path

import pandas as pd
import pytest

from hms_fastai.cli import main
from hms_fastai.core.errors import HMSDataError
from hms_fastai.learn.curves import TensorBoardFolds
from hms_fastai.learn.recipes import train_folds
from hms_fastai.learn.runs import LOGS, run_exports

TINY = dict(arch='test_efficientnet', bs=4, flip=0, mask=0, seed=0, epochs=2, epochs2=1)


class _Writer:
    """A SummaryWriter stand-in: what it was asked to log, where."""
    made = []

    def __init__(self, log_dir=None, **kwargs):
        self.log_dir, self.scalars, self.closed = Path(log_dir), [], False
        _Writer.made.append(self)

    def add_scalar(self, tag, value, step): self.scalars.append((tag, float(value), step))

    def close(self): self.closed = True


@pytest.fixture
def tensorboard(monkeypatch):
    """The tensorboard package stood in for (fastai's callback module imported afresh against it)."""
    board = types.ModuleType('torch.utils.tensorboard')
    board.SummaryWriter = _Writer
    monkeypatch.setitem(sys.modules, 'tensorboard', types.ModuleType('tensorboard'))
    monkeypatch.setitem(sys.modules, 'torch.utils.tensorboard', board)
    monkeypatch.delitem(sys.modules, 'fastai.callback.tensorboard', raising=False)
    _Writer.made = []
    yield _Writer
    sys.modules.pop('fastai.callback.tensorboard', None)


def test_every_fit_logs_its_epochs_in_its_folds_folder(fastai_data, tmp_path, tensorboard):
    train, _, table = fastai_data
    run = tmp_path / 'run'
    train_folds(table, train, run, folds_used=[0, 1], cbs=[TensorBoardFolds(run / LOGS)], **TINY)
    assert [w.log_dir for w in tensorboard.made] == [run / LOGS / f'fold{k}' / f'fit{n}' for k in (0, 1) for n in (1, 2)]
    assert all(w.closed for w in tensorboard.made)
    for k in (0, 1):
        history = pd.read_csv(run / f'fold{k}_history.csv')
        for stage, writer in zip((1, 2), tensorboard.made[2 * k:2 * k + 2]):
            for figure in ('valid_loss', 'kl_expert'):
                logged = [v for tag, v, _ in writer.scalars if tag == figure]
                assert logged == pytest.approx(history[history.stage == stage][figure].tolist(), rel=1e-6)
            assert any(tag == 'train_loss' for tag, _, _ in writer.scalars)
    (run / LOGS).mkdir(exist_ok=True)                               # the real writer's folder: not a stray file of the run
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert len(run_exports(run)) == 2


def test_without_tensorboard_it_is_refused_in_one_line(synth_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, 'tensorboard', None)
    with pytest.raises(HMSDataError, match=r"tensorboard is not installed: pip install 'hms_fastai\[tensorboard\]'"):
        TensorBoardFolds(tmp_path)
    args = ['train', '--data', str(synth_root), '--cache', str(tmp_path / 'c'), '--out', str(tmp_path / 'o'), '--log', 'tensorboard',
            '--arch', 'test_efficientnet']
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["hms-fastai train: error: --log: tensorboard is not installed: pip install 'hms_fastai[tensorboard]'"]
    assert not (tmp_path / 'o').exists()
