"""GPU throughput of the data path: (a) the loader alone, (b) fastai `fit` through hms_dls + hms_learner, (c) the ceiling:
the same model, on the DataLoaders' device, on device-resident random tensors (same bs, precision, memory format); the
ratio (b)/(c); the signal kind's loader and fit; TTA inference; eeg_mels. Goal on an H200: (b)/(c) ≥ 0.8 at bs 256,
TTA ≥ 5,000 eegs/s. Also the device checks of issue 18 §5: the precision `--precision` (default auto) gave, the store's
parts held on the device vs read from the memory maps, and with 2+ GPUs each rank's device (a short `train
--processes 2`). Runs on the CPU too (a dry run: tiny sizes).
"""
import argparse
import json
import os
import re
import subprocess
import sys
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


def _ceiling_rate(model, bs: int, n_in: int, steps: int, plan: dict) -> float:
    """Images/s of train steps of `model` (on its device) on resident random tensors: the same loss, AdamW, precision
    (fp16 with loss scaling, as fastai's MixedPrecision), memory format."""
    from hms_fastai.learn.metrics import KLDivLossFlat
    dev = next(model.parameters()).device
    fmt = torch.channels_last if plan['channels_last'] else torch.contiguous_format
    amp = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(plan['precision'])
    model = model.to(memory_format=fmt).train()
    x = torch.randn(bs, n_in, 128, 256, device=dev).contiguous(memory_format=fmt)
    y = torch.softmax(torch.randn(bs, 6, device=dev), 1)
    opt, loss_func = torch.optim.AdamW(model.parameters(), 1e-3), KLDivLossFlat()
    scaler = torch.amp.GradScaler(dev.type, enabled=plan['precision'] == 'fp16')

    def step():
        with torch.autocast(dev.type, dtype=amp or torch.float32, enabled=amp is not None): loss = loss_func(model(x), y)
        scaler.scale(loss).backward(); scaler.step(opt); scaler.update(); opt.zero_grad()
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


def _rank_devices(data: Path, cache: Path, out: Path, arch: str) -> list[str]:
    """Each rank's device in a short 2-process `train` (fold 0, one epoch): the store lines the ranks print."""
    cmd = [sys.executable, '-m', 'hms_fastai.cli', 'train', '--data', str(data), '--cache', str(cache), '--out', str(out),
           '--processes', '2', '--arch', arch, '--epochs', '1', '--epochs2', '0', '--folds-used', '0', '--bs', '16']
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode: sys.exit(f'2-process train failed:\n{r.stderr[-3000:]}')
    return sorted({a or b for a, b in re.findall(r'held on (cuda:\d+)|(read from memory maps)', r.stdout + r.stderr)})


def main(a):
    from hms_fastai.competition.io import load_competition
    from hms_fastai.competition.meta import fold_table
    from hms_fastai.competition.synth import make_synthetic
    from hms_fastai.learn.data import _input_tfm, dl_channels, hms_dls, hms_test_dl
    from hms_fastai.learn.launch import gpu_count
    from hms_fastai.learn.learner import hms_learner
    from hms_fastai.signals.prepare import prepare
    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name() if cuda else f'CPU ({os.cpu_count()} cores, {torch.get_num_threads()} threads)'
    work = Path(a.work)
    t0 = time.perf_counter()
    data = make_synthetic(work / 'data', n_eegs=a.n_eegs, n_test=a.n_test, seed=0)
    train, test = prepare(data, work / 'cache', 'train'), prepare(data, work / 'cache', 'test')
    print(f'[{time.perf_counter() - t0:.0f}s] data ready: {len(train)} train eegs, {len(test)} test eegs on {device}', flush=True)
    table = fold_table(load_competition(data, test=False), 5, seed=0)
    reps = max(1, a.images // int((table.fold != 0).sum()))           # ~a.images training images per epoch
    big = pd.concat([table[table.fold != 0]] * reps + [table[table.fold == 0]], ignore_index=True)
    res = {'device': device, 'arch': a.arch, 'train_images_per_epoch': int((big.fold != 0).sum()), 'by_bs': {}}
    for bs in a.bs:
        dls = hms_dls(big, train, fold=0, kind='image', bs=bs, windows='random', seed=0)
        store = _input_tfm(dls).store
        res['store'] = {'reads': list(store.reads(True, 'random')), 'held on the device': list(store.held),
                        'device': str(store.device or 'CPU memory maps')}
        row = {'loader': _loader_rate(dls.train, a.loader_batches)}
        learn = hms_learner(dls, a.arch, seed=0, precision=a.precision)
        res['precision'] = learn.precision['note']
        row['fit'] = _fit_rate(learn, a.epochs)
        twin = hms_learner(dls, a.arch, seed=0, precision=a.precision)  # a fresh twin, moved where fit would move it
        row['ceiling'] = _ceiling_rate(twin.model.to(dls.device), bs, len(dl_channels(dls)), a.steps, twin.precision)
        row['fit/ceiling'] = row['fit'] / row['ceiling']
        res['by_bs'][bs] = row
        print(f'[{time.perf_counter() - t0:.0f}s] bs {bs}: ' + ', '.join(f'{k} {v:,.2f}' if k == 'fit/ceiling' else f'{k} {v:,.0f}/s'
                                                                          for k, v in row.items()), flush=True)
    print(f'  {res["precision"]}; store: reads {res["store"]["reads"]}, held on the device {res["store"]["held on the device"]} '
          f'({res["store"]["device"]})', flush=True)
    raw = hms_dls(big, train, fold=0, kind='signal', bs=a.bs[-1], windows='random', seed=0)   # the signal kind, same rows
    raw_learn = hms_learner(raw, seed=0, precision=a.precision)
    res['signal'] = {'bs': a.bs[-1], 'precision': raw_learn.precision['note'], 'loader': _loader_rate(raw.train, a.loader_batches),
                     'fit': _fit_rate(raw_learn, a.epochs)}
    print(f'[{time.perf_counter() - t0:.0f}s] signal kind ({raw_learn.hms_spec["arch"]}), bs {a.bs[-1]}: loader '
          f'{res["signal"]["loader"]:,.0f}/s, fit {res["signal"]["fit"]:,.0f} windows/s; {res["signal"]["precision"]}', flush=True)
    tdl = hms_test_dl(learn.dls, test.table, test, bs=a.bs[-1])
    for flip in (False, True):
        with learn.no_bar(): learn.tta(dl=tdl, flip=flip)                # warm-up
        _sync(); t = time.perf_counter()
        with learn.no_bar(): learn.tta(dl=tdl, flip=flip)
        _sync()
        res[f'tta_{"flip" if flip else "plain"}_eegs_per_s'] = len(test) / (time.perf_counter() - t)
    res['mels_per_s'] = {b: _mel_rate(b, a.mel_reps) for b in (64, 512 if cuda else 64)}
    gpus = gpu_count()
    if gpus >= 2 or a.ranks:                  # on CPUs (--ranks) it runs on gloo, and no store is held anywhere
        res['rank_devices'] = _rank_devices(data, work / 'cache', work / 'ranks', a.arch)
        print(f'[{time.perf_counter() - t0:.0f}s] 2 processes ({gpus} GPUs): the ranks\' stores on {res["rank_devices"]}', flush=True)
    else: res['rank_devices'] = f'not run: {gpus} GPU(s)'
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
    ap.add_argument('--precision', default='auto', help="'auto' (from the device), 'bf16', 'fp16' or 'fp32'")
    ap.add_argument('--ranks', action='store_true', help='run the 2-process check without 2 GPUs too (CPU: gloo)')
    ap.add_argument('--work', help='folder for the synthetic data and cache (default: a temporary one)')
    args = ap.parse_args()
    if args.work: main(args)
    else:
        with tempfile.TemporaryDirectory() as d:
            args.work = d
            main(args)
