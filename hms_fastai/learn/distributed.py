"""Data-parallel training pieces (fastai's DistributedTrainer, through HF Accelerate): each process trains on its shard
of every training batch (DistributedDataParallel, BatchNorm synchronised on GPUs); validation runs whole on every
process, so the epoch's KL metrics cover the whole validation set and pick the same best epoch everywhere."""
import torch
from fastai.callback.progress import ProgressCallback
from fastai.distributed import DistributedDL, DistributedTrainer
from fastai.torch_core import num_distrib, rank_distrib

from .learner import EpochLines

__all__ = ['ShardedDL', 'ShardTraining', 'shard', 'unshard']


class ShardedDL(DistributedDL):
    """fastai's DistributedDL, with the rank-0 shuffle broadcast on the process group's own device (gloo: the CPU)."""

    def _broadcast(self, t, rank):
        """Broadcast a list of ints from `rank` (fastai's moves it to CUDA, which gloo on the CPU cannot use)."""
        backend = torch.distributed.get_backend()
        t = torch.tensor(t, dtype=torch.long, device='cuda' if backend == 'nccl' else 'cpu')
        torch.distributed.broadcast(t, rank)
        return t.cpu().tolist()


class ShardTraining(DistributedTrainer):
    """DDP training (BatchNorm synchronised) with the training batches sharded; validation whole on every process."""

    def _wrap_dl(self, dl): return dl if isinstance(dl, ShardedDL) else ShardedDL(dl, device=self.learn.model.device)

    def before_fit(self):
        """Wrap the model and the training DataLoader only (DistributedTrainer wraps every loader)."""
        super().before_fit()
        self.learn.dls.loaders = [self.learn.dls.loaders[0], *self.old_dls[1:]]

    def before_validate(self):
        """Keep the validation DataLoader whole."""


def shard(learn):
    """Add ShardTraining to `learn` when several processes run (BatchNorm synchronised on GPUs; gloo on CPUs cannot)."""
    if num_distrib() <= 1: return learn
    learn.add_cb(ShardTraining(sync_bn=torch.cuda.is_available()))
    if rank_distrib():                                     # rank 0 alone shows progress
        learn.quieted = [cb for cb in learn.cbs if isinstance(cb, (ProgressCallback, EpochLines))]
        learn.remove_cbs(learn.quieted)
    return learn


def unshard(learn):
    """Remove what `shard` added (before an export: the pickle holds no trainer)."""
    if num_distrib() <= 1: return learn
    learn.remove_cb(ShardTraining)
    learn.add_cbs(getattr(learn, 'quieted', []))
    return learn
