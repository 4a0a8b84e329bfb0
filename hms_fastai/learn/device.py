"""The device a learner runs on: whether this torch build can use its GPU, the precision and memory format chosen from it,
and a GPU running out of memory turned into one line that names the batch size."""
from contextlib import contextmanager

import torch
from fastai.callback.channelslast import ChannelsLast
from fastai.callback.fp16 import MixedPrecision
from fastai.torch_core import default_device

from ..core.errors import HMSDataError
from ..core.train_args import PRECISIONS

__all__ = ['check_cuda', 'choose_precision', 'precision_plan', 'apply_precision', 'oom_as_error']


def _capability(device: torch.device) -> tuple[int, int] | None:
    """A CUDA device's compute capability (None on any other device)."""
    return torch.cuda.get_device_capability(device) if device.type == 'cuda' else None


def check_cuda(device=None) -> torch.device:
    """`device` (default: fastai's), HMSDataError if it is a GPU this torch build has no kernels for (e.g. a P100 on sm_75+ wheels)."""
    device = torch.device(device or default_device())
    cap = _capability(device)
    if cap is None: return device
    archs = torch.cuda.get_arch_list()           # e.g. ['sm_75', 'sm_80', …, 'compute_120'] (compute_*: PTX, JIT-compiled upward)
    sm = cap[0] * 10 + cap[1]
    built = [int(a.split('_')[1]) for a in archs if a.startswith('sm_')]
    ptx = [int(a.split('_')[1]) for a in archs if a.startswith('compute_')]
    if archs and sm not in built and not any(p <= sm for p in ptx):
        raise HMSDataError(device, f'{torch.cuda.get_device_name(device)} has compute capability {cap[0]}.{cap[1]}, and this torch '
                                   f'build has kernels for {", ".join(archs)} only: install a torch built for it (Kaggle\'s '
                                   f'image has one), or run on the CPU with CUDA_VISIBLE_DEVICES=""')
    return device


def choose_precision(precision: str = 'auto', device=None) -> str:
    """'bf16', 'fp16' or 'fp32' for `device`: `auto` is bf16 from compute capability 8.0, fp16 on 7.x (tensor cores), else fp32."""
    # Pascal (6.x, Kaggle's P100) and older have no tensor cores: autocast's fp16 there saves memory but hardly time, and
    # risks overflow for nothing, so auto keeps fp32; a T4 (7.5) has fp16 tensor cores but no bf16 units (emulated: slow).
    if precision not in PRECISIONS: raise HMSDataError('precision', f'must be one of {list(PRECISIONS)}, got {precision!r}')
    device = torch.device(device or default_device())
    cap = _capability(device)
    if precision != 'auto':
        if precision != 'fp32' and cap is None:
            raise HMSDataError('precision', f'{precision} mixed precision needs a CUDA device; this run is on {device}')
        return precision
    return 'fp32' if cap is None else 'bf16' if cap[0] >= 8 else 'fp16' if cap[0] >= 7 else 'fp32'


def precision_plan(precision: str = 'auto', device=None, spatial: bool = True) -> dict:
    """What a learner on `device` trains in: precision, channels_last (2-D inputs under mixed precision on tensor cores), a note."""
    device = torch.device(device or default_device())
    chosen, cap = choose_precision(precision, device), _capability(device)
    channels_last = chosen != 'fp32' and spatial and cap[0] >= 7
    why = f'{precision} on {device}' + (f', {torch.cuda.get_device_name(device)}, compute capability {cap[0]}.{cap[1]}' if cap else '')
    return {'precision': chosen, 'channels_last': channels_last,
            'note': f'precision {chosen}{" + channels_last" if channels_last else ""} ({why})'}


def apply_precision(learn, precision: str = 'auto', device=None, spatial: bool = True) -> str:
    """Give `learn` the callbacks of the precision planned for `device` (default: its dls's); return the precision."""
    plan = precision_plan(precision, device or learn.dls.device, spatial)
    learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, (MixedPrecision, ChannelsLast))])
    if plan['precision'] != 'fp32': learn.add_cb(MixedPrecision(amp_mode=plan['precision']))
    if plan['channels_last']: learn.add_cb(ChannelsLast())
    learn.precision = plan
    return plan['precision']


@contextmanager
def oom_as_error(bs: int | None, what: str = 'training'):
    """Turn a CUDA out-of-memory inside the block into HMSDataError naming the batch size and a smaller one to try."""
    try: yield
    except torch.OutOfMemoryError:
        if torch.cuda.is_available(): torch.cuda.empty_cache()
        smaller = f'; try --bs {max(1, bs // 2)}' if bs else ''
        raise HMSDataError('--bs', f'the GPU ran out of memory during {what} at batch size {bs}{smaller}') from None
