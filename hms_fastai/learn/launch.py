"""Launching training on several processes with accelerate's `notebook_launcher` (Kaggle's 2×T4 from a notebook, or
`hms-fastai train --processes N`): nothing may initialise CUDA in the parent, so the store, the DataLoaders and the
learners are all made in the workers; rank 0 alone writes the run folder."""
import os

import torch

from ..competition.io import load_competition
from ..competition.meta import add_folds, eeg_table
from ..signals.prepare import prepare
from .recipes import train_folds

__all__ = ['train_folds_distributed']


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
    from accelerate import debug_launcher, notebook_launcher  # noqa: PLC0415 (optional: pip install accelerate)
    args = (str(data), str(cache), str(out_dir), n_folds, seed, tuple(parts), store_kwargs or {}, kwargs)
    if torch.cuda.is_available(): notebook_launcher(_worker, args, num_processes=processes)
    else:                      # notebook_launcher takes a CUDA build without GPUs for GPUs; this one runs gloo on the CPU
        print(f'Launching training on {processes} CPUs.', flush=True)
        debug_launcher(_worker, args, num_processes=processes)
