"""A training run from the competition folder: the fold table, the signal store, every fold trained into a run folder, on
one process or several (`hms-fastai train`, the notebooks and the experiments all start here).

Several processes (Kaggle's 2×T4, or CPUs with gloo) are spawned, not forked, through accelerate's launch helpers: nothing
initialises CUDA in the parent (GPUs are counted through NVML), each worker takes its own GPU first thing, and the store,
the DataLoaders and the learners are made in the workers; rank 0 alone writes the run folder.
"""
import json
import os
import socket
from pathlib import Path

import pandas as pd
import torch
from accelerate.utils import PrepareForLaunch, patch_environment
from fastcore.meta import delegates
from fastcore.parallel import num_cpus
from torch.multiprocessing import start_processes

from ..competition.io import load_competition
from ..competition.meta import fold_table
from ..competition.score import oof_scores
from ..core.constants import PARTS, part_of
from ..core.errors import HMSDataError
from ..core.train_args import TrainArgs
from ..signals.prepare import prepare
from .device import check_cuda, choose_precision
from .exports import read_spec
from .kinds import get_kind
from .recipes import TrainedFolds, check_run, train_folds
from .runs import MANIFEST, run_exports

__all__ = ['gpu_count', 'check_processes', 'check_train_args', 'run_parts', 'train_run']


def gpu_count() -> int:
    """GPUs this process may use, counted through NVML where it can (so the parent never initialises CUDA before a launch)."""
    with patch_environment(pytorch_nvml_based_cuda_check='1'):
        return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_processes(processes: int) -> int:
    """`processes`, checked against the devices: at most one per GPU where there are GPUs, else one per CPU core."""
    gpus = gpu_count()
    have, what = (gpus, 'GPU') if gpus else (num_cpus(), 'CPU core')
    if not 1 <= processes <= have:
        raise HMSDataError('--processes', f'{processes} processes, but this machine has {have} {what}{"s" * (have != 1)}')
    return processes


def check_train_args(args: TrainArgs, **learner_kwargs):
    """HMSDataError, before any work, for arguments this machine cannot train: the precision, the body, the weights file."""
    kind = get_kind(args.kind)
    choose_precision(args.precision, check_cuda())           # e.g. bf16 asked for on a CPU
    kind.check_body(args.arch or kind.arch, len(kind.input_channels(args.channels)),
                    {k: v for k, v in learner_kwargs.items() if k in kind.head_args})
    if args.pretrained not in (False, True):
        from .learner import check_weights
        check_weights(args.pretrained)


def _spec_of(first_round) -> dict:
    """The first fold's export spec of a finished first round (pseudo-labels, checked): the kind and channels it reads."""
    return read_spec(run_exports(first_round)[0])


def run_parts(args: TrainArgs) -> tuple:
    """The store parts a run reads: its kind's channels', and the first round's when it trains on pseudo-labels."""
    reads = set(get_kind(args.kind).reads(args.channels))
    if args.pseudo:
        spec = _spec_of(args.pseudo)
        reads |= set(get_kind(spec['kind']).reads(spec['channels']))
    return tuple(p for p in PARTS if p in {part_of(c) for c in reads})


def _free_port() -> str:
    """A TCP port free on this machine now (a fixed one collides with any other run's processes)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def _worker(data, cache, out_dir, args: TrainArgs, store_kwargs: dict, learner_kwargs: dict, cbs=()):
    """One spawned process: its own GPU first, then the store (its lock: one process builds, the others open), the folds."""
    if torch.distributed.is_initialized():                 # the CPU launcher starts gloo itself but sets no RANK for fastai
        os.environ.update(RANK=str(torch.distributed.get_rank()), LOCAL_RANK=str(torch.distributed.get_rank()))
    elif torch.cuda.is_available(): torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))   # before anything touches GPU 0
    comp = load_competition(data, test=False)
    store = prepare(comp, cache, 'train', parts=run_parts(args), **store_kwargs)
    train_folds(fold_table(comp, args.folds, args.seed), store, out_dir, args, distributed=True, cbs=cbs, **learner_kwargs)


def _launch(args: tuple, processes: int, out_dir: Path):
    """Spawn `processes` workers: one per GPU (NCCL), or CPU processes on gloo with the cores shared out."""
    env = dict(world_size=processes, nproc=processes, master_addr='127.0.0.1', master_port=_free_port())
    if gpu_count():
        launcher, what = PrepareForLaunch(_worker, distributed_type='MULTI_GPU'), 'GPUs'
    else:   # accelerate's debug launcher: gloo over loopback through a rendezvous file (a temp file the run folder sweeps)
        rdv = out_dir / f'.rendezvous.{os.getpid()}.tmp'
        env |= dict(accelerate_mixed_precision='no', accelerate_use_cpu='yes', accelerate_debug_rdv_file=str(rdv),
                    gloo_socket_ifname='lo', omp_num_threads=max(1, num_cpus() // processes))   # processes × threads ≤ cores
        launcher, what = PrepareForLaunch(_worker, debug=True), 'CPUs'
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f'Launching training on {processes} {what}.', flush=True)
    try:
        with patch_environment(**env): start_processes(launcher, args=args, nprocs=processes, start_method='spawn')
    finally:
        if not gpu_count(): rdv.unlink(missing_ok=True)


@delegates(TrainArgs)
def train_run(data,                        # the competition folder (or its Competition)
              cache,                       # the signal store's folder (prepared here if needed)
              out_dir,                     # the run folder: exports, OOF, models.json (the same run resumes)
              args: TrainArgs | None = None,   # the training arguments (kwargs that are fields of TrainArgs replace its)
              processes: int = 1,          # train on this many processes (GPUs, or CPU cores)
              margin: float | None = None,     # seconds of signal the store keeps beyond the label windows (None: args.jitter)
              max_seconds: float | None = None,  # at most this much EEG per eeg in the store
              cbs=(),                      # more fastai callbacks for every fit (not part of the run: e.g. TensorBoard, pruning)
              **kwargs) -> TrainedFolds:
    """A competition folder → its fold table → the signal store → every fold trained into `out_dir`; checks come first."""
    args, learner_kwargs = TrainArgs.split(args, **kwargs)
    check_train_args(args, **learner_kwargs)
    check_processes(processes)
    comp = load_competition(data, test=False)
    table = fold_table(comp, args.folds, args.seed)
    parts = run_parts(args)                                  # a first round of pseudo-labels: checked finished here
    out_dir = check_run(table, out_dir, args, **learner_kwargs).folder   # another run's folder, a leaky first round: refused
    store_kwargs = dict(margin=args.jitter if margin is None else margin, max_seconds=max_seconds)
    if processes == 1:
        trained = train_folds(table, prepare(comp, cache, 'train', parts, **store_kwargs), out_dir, args, cbs=cbs, **learner_kwargs)
    else:
        _launch((str(comp.root), str(cache), str(out_dir), args, store_kwargs, learner_kwargs, cbs), processes, out_dir)
        params = json.loads((out_dir / MANIFEST).read_text()).get('params', 0)
        trained = TrainedFolds(run_exports(out_dir), pd.read_csv(out_dir / 'oof.csv'), {}, params)
    return trained._replace(scores=oof_scores(table, trained.oof, comp.train))     # per eeg, and per label row
