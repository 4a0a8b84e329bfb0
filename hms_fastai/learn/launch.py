"""Launching training on several processes with accelerate's `notebook_launcher` (Kaggle's 2×T4 from a notebook, or
`hms-fastai train --processes N`): nothing may initialise CUDA in the parent, so the store, the DataLoaders and the
learners are all made in the workers; rank 0 alone writes the run folder."""
import os
import socket
import tempfile

import torch
from accelerate import notebook_launcher
from accelerate.utils import PrepareForLaunch, patch_environment
from fastcore.parallel import num_cpus
from torch.multiprocessing import start_processes

from ..competition.io import load_competition
from ..competition.meta import add_folds, eeg_table
from ..signals.prepare import prepare
from .recipes import train_folds

__all__ = ['train_folds_distributed']


def _free_port() -> str:
    """A TCP port free on this machine now (a fixed one collides with any other run's processes)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def _launch_cpus(function, args: tuple, processes: int):
    """accelerate's CPU launch (gloo over loopback, a free port, cores shared out), spawned rather than forked."""
    # notebook_launcher takes a CUDA build without GPUs for GPUs; accelerate's debug launcher forks, and a child forked
    # after the parent started its OpenMP threads hangs in its first parallel op.
    print(f'Launching training on {processes} CPUs.', flush=True)
    threads = max(1, num_cpus() // processes)            # processes × threads ≤ the cores we may use, or gloo crawls
    with tempfile.NamedTemporaryFile() as rdv, patch_environment(world_size=processes, master_addr='127.0.0.1', master_port=_free_port(),
                                                                 accelerate_mixed_precision='no', accelerate_use_cpu='yes',
                                                                 accelerate_debug_rdv_file=rdv.name, gloo_socket_ifname='lo',
                                                                 omp_num_threads=threads):
        start_processes(PrepareForLaunch(function, debug=True), args=args, nprocs=processes, start_method='spawn')


def _worker(data, cache, out_dir, n_folds: int, seed: int, parts, store_kwargs: dict, kwargs: dict):
    """One process of `train_folds_distributed`: the store (its lock: one process builds, the others then open), the folds."""
    if torch.distributed.is_initialized():                 # the CPU launcher starts gloo itself but sets no RANK for fastai
        os.environ.update(RANK=str(torch.distributed.get_rank()), LOCAL_RANK=str(torch.distributed.get_rank()))
    comp = load_competition(data)
    store = prepare(comp, cache, 'train', parts=parts, **store_kwargs)
    table = add_folds(eeg_table(comp.train, comp.root / 'train.csv').sort_values('eeg_id').reset_index(drop=True), n_folds, seed=seed)
    train_folds(table, store, out_dir, seed=seed, distributed=True, **kwargs)


def train_folds_distributed(data, cache, out_dir, processes: int = 2, n_folds: int = 5, seed: int = 0,
                            parts=('spec', 'eeg'), store_kwargs: dict | None = None, **kwargs):
    """`train_folds` on `processes` processes (GPUs, or CPUs with gloo) through accelerate's notebook_launcher."""
    args = (str(data), str(cache), str(out_dir), n_folds, seed, tuple(parts), store_kwargs or {}, kwargs)
    if torch.cuda.is_available(): notebook_launcher(_worker, args, num_processes=processes, use_port=_free_port())
    else: _launch_cpus(_worker, args, processes)
