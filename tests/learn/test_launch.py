"""Launching a run: GPUs counted without initialising CUDA, bounded processes, each worker on its own GPU and seed."""
import os

import pytest
import torch

from hms_fastai.core.errors import HMSDataError
from hms_fastai.learn import launch, recipes
from hms_fastai.learn.launch import check_processes, gpu_count


def _never(*args):
    raise AssertionError('the CUDA runtime was initialised (cudaGetDeviceCount): forked workers would fail')


def test_gpus_are_counted_through_nvml_and_cuda_stays_uninitialised(monkeypatch):
    monkeypatch.setattr(torch._C, '_cuda_getDeviceCount', _never)
    monkeypatch.setattr(torch.cuda, '_is_compiled', lambda: True)
    monkeypatch.setattr(torch.cuda, '_device_count_nvml', lambda: 2)            # NVML sees 2 GPUs
    assert gpu_count() == 2 and not torch.cuda.is_initialized()
    with pytest.raises(AssertionError, match='initialised'): torch.cuda.is_available()   # what the parent must not call
    assert os.environ.get('PYTORCH_NVML_BASED_CUDA_CHECK') is None               # the switch was only for the count


def test_processes_are_bounded_by_the_devices(monkeypatch):
    monkeypatch.setattr(launch, 'gpu_count', lambda: 0)
    monkeypatch.setattr(launch, 'num_cpus', lambda: 2)
    assert check_processes(2) == 2
    with pytest.raises(HMSDataError, match='1000 processes, but this machine has 2 CPU cores'): check_processes(1000)
    monkeypatch.setattr(launch, 'gpu_count', lambda: 2)
    with pytest.raises(HMSDataError, match='3 processes, but this machine has 2 GPUs'): check_processes(3)


class Stop(Exception):
    """Ends a worker after its first steps."""


def test_a_worker_takes_its_gpu_before_anything_else(monkeypatch):
    calls = []
    monkeypatch.setenv('LOCAL_RANK', '1')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'set_device', lambda d: calls.append(('set_device', d)))
    def load(data, **kwargs): calls.append(('load', data)); raise Stop
    monkeypatch.setattr(launch, 'load_competition', load)
    with pytest.raises(Stop): launch._worker('data', 'cache', 'out', None, {}, {})
    assert calls == [('set_device', 1), ('load', 'data')]


def test_each_rank_draws_its_own_random_numbers(fastai_data, monkeypatch):
    train, _, table = fastai_data
    seeds = []
    monkeypatch.setattr(recipes, 'rank_distrib', lambda: 1)
    monkeypatch.setattr(recipes, 'set_seed', lambda s, reproducible=False: seeds.append(s))
    monkeypatch.setattr(recipes, 'hms_learner', lambda *a, **k: (_ for _ in ()).throw(Stop()))
    with pytest.raises(Stop): recipes.train_fold(table, train, 0, seed=5, epochs2=0, bs=4)
    assert seeds == [6]
