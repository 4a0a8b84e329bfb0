"""The device: precision and memory format chosen from a (faked) compute capability, GPUs this torch cannot use,
out-of-memory as one line, the store's placement reported."""
import numpy as np
import pytest
import torch
from fastai.callback.channelslast import ChannelsLast
from fastai.callback.core import Callback
from fastai.callback.fp16 import MixedPrecision

from hms_fastai.core.constants import HALVES
from hms_fastai.core.errors import HMSDataError
from hms_fastai.learn import data as data_module
from hms_fastai.learn.data import hms_dls, place_store
from hms_fastai.learn.device import apply_precision, check_cuda, choose_precision
from hms_fastai.learn.learner import hms_learner
from hms_fastai.learn.recipes import train_fold
from hms_fastai.signals.store import Store

CUDA = torch.device('cuda', 0)


@pytest.fixture
def gpu(monkeypatch):
    """`gpu(major, minor, archs)`: this process sees one CUDA device of that capability, built kernels `archs`."""
    def fake(major: int, minor: int, archs=('sm_75', 'sm_80', 'sm_86', 'sm_90', 'compute_90')):
        monkeypatch.setattr(torch.cuda, 'get_device_capability', lambda device=None: (major, minor))
        monkeypatch.setattr(torch.cuda, 'get_device_name', lambda device=None: f'Fake sm_{major}{minor}')
        monkeypatch.setattr(torch.cuda, 'get_arch_list', lambda: list(archs))
    return fake


def _callbacks(learn) -> tuple:
    """(amp mode or 'fp32', channels_last?) of a learner's callbacks."""
    amp = [cb.amp_mode.value for cb in learn.cbs if isinstance(cb, MixedPrecision)]
    return (amp[0] if amp else 'fp32'), any(isinstance(cb, ChannelsLast) for cb in learn.cbs)


@pytest.fixture(scope='module')
def dls(fastai_data):
    train, _, table = fastai_data
    return {k: hms_dls(table, train, kind=k, bs=8) for k in ('image', 'signal')}


@pytest.mark.parametrize('cap,image,signal', [((6, 0), ('fp32', False), ('fp32', False)),     # P100: no tensor cores
                                               ((7, 5), ('fp16', True), ('fp16', False)),      # T4: fp16 tensor cores, no bf16
                                               ((8, 0), ('bf16', True), ('bf16', False)),      # A100
                                               ((9, 0), ('bf16', True), ('bf16', False))])     # H100/H200
def test_auto_precision_follows_the_compute_capability(dls, gpu, cap, image, signal):
    gpu(*cap)
    for kind, want in (('image', image), ('signal', signal)):     # channels_last only for 2-D inputs
        learn = hms_learner(dls[kind], 'test_efficientnet' if kind == 'image' else None)
        assert _callbacks(learn) == ('fp32', False)                # the dls are on the CPU
        assert apply_precision(learn, 'auto', CUDA, learn.hms_spec['kind'] == 'image') == want[0]
        assert _callbacks(learn) == want and learn.precision['precision'] == want[0]
        assert apply_precision(learn, 'fp32', CUDA) == 'fp32' and _callbacks(learn) == ('fp32', False)   # --precision wins
        assert apply_precision(learn, 'fp16', CUDA, kind == 'image')
        assert _callbacks(learn) == ('fp16', kind == 'image' and cap[0] >= 7)
        assert f'compute capability {cap[0]}.{cap[1]}' in learn.precision['note']


def test_cpu_is_fp32_and_mixed_precision_needs_cuda(dls):
    assert choose_precision('auto', 'cpu') == 'fp32' and choose_precision('fp32', 'cpu') == 'fp32'
    for p in ('bf16', 'fp16'):
        with pytest.raises(HMSDataError, match=f'{p} mixed precision needs a CUDA device'): choose_precision(p, 'cpu')
    with pytest.raises(HMSDataError, match='must be one of'): choose_precision('fp8', 'cpu')
    assert _callbacks(hms_learner(dls['image'], 'test_efficientnet')) == ('fp32', False)


def test_a_gpu_without_kernels_in_this_torch_is_named(gpu):
    gpu(6, 0)                                                       # a P100 beside wheels built for sm_75 and up
    with pytest.raises(HMSDataError, match=r'Fake sm_60 has compute capability 6.0, and this torch build has kernels for sm_75'):
        check_cuda(CUDA)
    gpu(12, 0)                                                      # newer than every sm_ kernel: the PTX (compute_90) JITs
    assert check_cuda(CUDA) == CUDA
    gpu(7, 5)
    assert check_cuda(CUDA) == CUDA and check_cuda('cpu') == torch.device('cpu')


class OutOfMemory(Callback):
    """What a too-large batch does to a GPU."""

    def before_batch(self): raise torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')


def test_out_of_memory_names_the_batch_size(fastai_data):
    train, _, table = fastai_data
    with pytest.raises(HMSDataError, match=r'ran out of memory during training fold 1 at batch size 8; try --bs 4'):
        train_fold(table, train, 1, arch='test_efficientnet', epochs=1, epochs2=0, bs=8, cbs=[OutOfMemory()])


def test_the_store_placement_is_reported_once(fastai_data, monkeypatch, capsys):
    train = Store.open(fastai_data[0].cache, 'train', HALVES['spec'])         # its own: holding it changes it
    size = sum(train.nbytes(['spec']).values())
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(data_module, 'default_device', lambda: torch.device('cpu'))   # "the GPU": here the CPU's memory
    monkeypatch.setattr(data_module, '_REPORTED', set())
    monkeypatch.setattr(torch.cuda, 'mem_get_info', lambda device=None: (int(1.5 * size), 10 * size))
    assert place_store(train, None) is train and train.device is None                # 1.5 × its size free: not held
    place_store(train, None)
    out = capsys.readouterr().out.splitlines()
    assert out == [f'train store: spec ({size / 1e9:.2f} GB) read from memory maps (more than half the free GPU memory); '
                   f'GPU free {1.5 * size / 1e9:.1f} GB']
    monkeypatch.setattr(torch.cuda, 'mem_get_info', lambda device=None: (3 * size, 10 * size))
    monkeypatch.setattr(data_module, '_REPORTED', set())
    held = place_store(train.with_channels(train.channels), None)
    assert held.device == torch.device('cpu') and capsys.readouterr().out.startswith('train store: spec (')
    rows = held.rows(held.table.eeg_id[:4])
    np.testing.assert_array_equal(held.raw(rows)['spec'].numpy(), train.with_channels(train.channels).raw(rows)['spec'].numpy())
