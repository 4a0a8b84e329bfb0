"""GPU throughput of the data path: (a) the loader alone, (b) fastai `fit` through hms_dls + hms_learner, (c) the ceiling:
the same model on device-resident random tensors (same bs, precision, memory format); the ratio (b)/(c); the raw-EEG
learner's loader and fit; TTA inference; eeg_mels. Goal on an H200: (b)/(c) ≥ 0.8 at bs 256, TTA ≥ 5,000 eegs/s.
Runs on the CPU too (a dry run: tiny sizes).
"""
import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def _sync():
    """Wait for the GPU (a no-op on the CPU) so that wall-clock times cover the work."""
    if torch.cuda.is_available(): torch.cuda.synchronize()


def _loader_rate(dl, batches: int) -> float:
    """Images/s of iterating a training DataLoader: gather, transfer, assemble, augment."""
    it, n = iter(dl), 0
    next(it); _sync()                                       # warm-up batch
    t = time.perf_counter()
    for _ in range(batches):
        try: x, _ = next(it)
        except StopIteration: it = iter(dl); x, _ = next(it)
        n += len(x)
    _sync()
    return n / (time.perf_counter() - t)


def _fit_rate(learn, epochs: int) -> float:
    """Images/s of the training phase of `learn.fit` (validation excluded), after one warm-up epoch."""
    from fastai.callback.core import Callback

    class Clock(Callback):
        def before_train(self): _sync(); self.t = time.perf_counter()
        def after_train(self): _sync(); self.times.append(time.perf_counter() - self.t)
    clock = Clock()
    clock.times = []
    with learn.no_bar(), learn.no_logging(): learn.fit(epochs + 1, 1e-3, cbs=clock)
    n = len(learn.dls.train) * learn.dls.train.bs
    return n / float(np.median(clock.times[1:]))


def _ceiling_rate(model, bs: int, steps: int, bf16: bool) -> float:
    """Images/s of train steps of `model` on device-resident random tensors: the same loss, AdamW, precision, format."""
    from hms_fastai.learn.metrics import KLDivLossFlat
    dev = next(model.parameters()).device
    fmt = torch.channels_last if dev.type == 'cuda' else torch.contiguous_format
    model = model.to(memory_format=fmt).train()
    x = torch.randn(bs, 8, 128, 256, device=dev).contiguous(memory_format=fmt)
    y = torch.softmax(torch.randn(bs, 6, device=dev), 1)
    opt, loss_func = torch.optim.AdamW(model.parameters(), 1e-3), KLDivLossFlat()

    def step():
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16): loss = loss_func(model(x), y)
        loss.backward(); opt.step(); opt.zero_grad()
    for _ in range(3): step()
    _sync(); t = time.perf_counter()
    for _ in range(steps): step()
    _sync()
    return steps * bs / (time.perf_counter() - t)


def _mel_rate(batch: int, reps: int) -> float:
    """EEGs/s of eeg_mels on the default device."""
    from hms_fastai.signals.eegspec import eeg_mels
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    x = torch.randn(batch, 10_000, 20, device=dev) * 50
    eeg_mels(x); _sync(); t = time.perf_counter()
    for _ in range(reps): eeg_mels(x)
    _sync()
    return batch * reps / (time.perf_counter() - t)


def main(a):
    from hms_fastai.competition.meta import add_folds
    from hms_fastai.competition.synth import make_synthetic
    from hms_fastai.learn.data import hms_dls, hms_test_dl
    from hms_fastai.learn.learner import hms_learner
    from hms_fastai.learn.raw import hms_raw_dls, hms_raw_learner
    from hms_fastai.signals.prepare import prepare
    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name() if cuda else f'CPU ({os.cpu_count()} cores, {torch.get_num_threads()} threads)'
    work = Path(a.work)
    t0 = time.perf_counter()
    data = make_synthetic(work / 'data', n_eegs=a.n_eegs, n_test=a.n_test, seed=0)
    train, test = prepare(data, work / 'cache', 'train'), prepare(data, work / 'cache', 'test')
    print(f'[{time.perf_counter() - t0:.0f}s] data ready: {len(train)} train eegs, {len(test)} test eegs on {device}', flush=True)
    table = add_folds(train.table, 5, seed=0)
    reps = max(1, a.images // int((table.fold != 0).sum()))           # ~a.images training images per epoch
    big = pd.concat([table[table.fold != 0]] * reps + [table[table.fold == 0]], ignore_index=True)
    res = {'device': device, 'arch': a.arch, 'train_images_per_epoch': int((big.fold != 0).sum()), 'by_bs': {}}
    for bs in a.bs:
        dls = hms_dls(big, train, fold=0, bs=bs, windows='random', seed=0)
        row = {'loader': _loader_rate(dls.train, a.loader_batches)}
        learn = hms_learner(dls, a.arch, seed=0)                       # bf16 + channels_last on CUDA
        row['fit'] = _fit_rate(learn, a.epochs)
        ceiling_model = hms_learner(dls, a.arch, seed=0).model
        row['ceiling'] = _ceiling_rate(ceiling_model, bs, a.steps, bf16=cuda)
        row['fit/ceiling'] = row['fit'] / row['ceiling']
        res['by_bs'][bs] = row
        print(f'[{time.perf_counter() - t0:.0f}s] bs {bs}: ' + ', '.join(f'{k} {v:,.2f}' if k == 'fit/ceiling' else f'{k} {v:,.0f}/s'
                                                                          for k, v in row.items()), flush=True)
    raw = hms_raw_dls(big, train, fold=0, bs=a.bs[-1], windows='random', seed=0)     # the raw-EEG learner on the same rows
    raw_learn = hms_raw_learner(raw, seed=0)
    res['raw_eeg'] = {'bs': a.bs[-1], 'loader': _loader_rate(raw.train, a.loader_batches), 'fit': _fit_rate(raw_learn, a.epochs)}
    print(f'[{time.perf_counter() - t0:.0f}s] raw EEG ({raw_learn.hms_spec["arch"]}), bs {a.bs[-1]}: loader {res["raw_eeg"]["loader"]:,.0f}/s, '
          f'fit {res["raw_eeg"]["fit"]:,.0f} windows/s', flush=True)
    tdl = hms_test_dl(learn.dls, test.table, test, bs=a.bs[-1])
    for flip in (False, True):
        with learn.no_bar(): learn.tta(dl=tdl, flip=flip)                # warm-up
        _sync(); t = time.perf_counter()
        with learn.no_bar(): learn.tta(dl=tdl, flip=flip)
        _sync()
        res[f'tta_{"flip" if flip else "plain"}_eegs_per_s'] = len(test) / (time.perf_counter() - t)
    res['mels_per_s'] = {b: _mel_rate(b, a.mel_reps) for b in (64, 512 if cuda else 64)}
    print(json.dumps(res, indent=1, default=float))
    if os.environ.get('OUT'): (Path(os.environ['OUT']) / 'bench_gpu.json').write_text(json.dumps(res, indent=1, default=float))


if __name__ == '__main__':
    gpu = torch.cuda.is_available()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n-eegs', type=int, default=1000 if gpu else 40)
    ap.add_argument('--n-test', type=int, default=2000 if gpu else 16)
    ap.add_argument('--images', type=int, default=8000 if gpu else 64, help='training images per epoch (rows repeated)')
    ap.add_argument('--arch', default='resnet34d' if gpu else 'test_efficientnet')
    ap.add_argument('--bs', type=int, nargs='+', default=[64, 256] if gpu else [8])
    ap.add_argument('--epochs', type=int, default=2, help='timed epochs after a warm-up epoch')
    ap.add_argument('--steps', type=int, default=30 if gpu else 3, help='ceiling train steps')
    ap.add_argument('--loader-batches', type=int, default=30 if gpu else 3)
    ap.add_argument('--mel-reps', type=int, default=10 if gpu else 1)
    ap.add_argument('--work', help='folder for the synthetic data and cache (default: a temporary one)')
    args = ap.parse_args()
    if args.work: main(args)
    else:
        with tempfile.TemporaryDirectory() as d:
            args.work = d
            main(args)
