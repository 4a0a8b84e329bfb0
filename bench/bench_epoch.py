"""CPU epoch of fastai `fit` through hms_dls + hms_learner: this checkout vs an older one (default: the per-item path).

Each measurement is a fresh process (the two versions are the same package) run alternately A B A B …, on one
synthetic competition: one untimed warm-up epoch, then timed epochs (train + validate). Prints medians and the median
of the paired ratios new/old, for each `--windows` setting of the new data path.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OLD = '2ad0770'          # the last commit with the per-item path (one precomputed image per eeg, assembled in numpy)


def worker(data: str, cache: str, arch: str, bs: int, epochs: int, windows: str | None):
    """In a fresh process: prepare (cached), one warm-up epoch, then `epochs` timed ones; print their seconds as JSON."""
    # This worker runs both checkouts, so it keeps to the API they share (add_folds, hms_dls without kind=).
    import torch

    from hms_fastai.competition.meta import add_folds
    from hms_fastai.learn.data import hms_dls
    from hms_fastai.learn.learner import hms_learner
    from hms_fastai.signals.prepare import prepare
    torch.manual_seed(0)
    store = prepare(data, cache, 'train')
    table = add_folds(store.table, 5, seed=0)
    kw = {} if windows is None else {'windows': windows}
    learn = hms_learner(hms_dls(table, store, fold=0, bs=bs, seed=0, **kw), arch, seed=0)
    times, cpu = [], []
    for _ in range(epochs + 1):
        t, c = time.perf_counter(), time.process_time()
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    import hms_fastai
    print('\nRESULT', json.dumps({'times': times[1:], 'cpu': cpu[1:], 'train': int((table.fold != 0).sum()), 'valid': int((table.fold == 0).sum()),
                      'src': str(Path(hms_fastai.__file__).parents[1])}))


def _run(src: Path, args, windows: str | None, data: Path, cache: Path) -> dict:
    """One worker process on the package at `src`."""
    cmd = [sys.executable, __file__, '--worker', '--data', str(data), '--cache', str(cache), '--arch', args.arch,
           '--bs', str(args.bs), '--epochs', str(args.epochs)] + (['--window', windows] if windows else [])
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'PYTHONPATH': str(src)})
    if r.returncode: sys.exit(f'worker failed ({src}):\n{r.stderr[-3000:]}')
    out = json.loads(r.stdout.split('\nRESULT ')[-1])
    assert Path(out['src']) == src, (out['src'], src)           # the version asked for, not the installed one
    return out


def main(args):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        subprocess.run(['git', '-C', str(REPO), 'worktree', 'add', '--detach', str(d / 'old'), args.old], check=True,
                       capture_output=True)
        try:
            sys.path.insert(0, str(REPO))
            from hms_fastai.competition.synth import make_synthetic
            data = make_synthetic(d / 'data', n_eegs=args.n_eegs, n_test=4, seed=0)
            variants = {'old': (d / 'old', None)} | {f'new {w}': (REPO, w) for w in args.windows}
            times, cpu = {k: [] for k in variants}, {k: [] for k in variants}
            for rep in range(args.reps):                  # alternate: the machine's drift hits every variant alike
                for name, (src, windows) in variants.items():
                    out = _run(src, args, windows, data, d / 'caches' / name.replace(' ', '_'))
                    times[name] += out['times']
                    cpu[name] += out['cpu']
                    print(f'rep {rep}: {name}: {np.round(out["times"], 2).tolist()}', flush=True)
        finally:
            subprocess.run(['git', '-C', str(REPO), 'worktree', 'remove', '--force', str(d / 'old')], capture_output=True)
    print(f'\n{args.arch}, bs {args.bs}, {out["train"]} train + {out["valid"]} valid images per epoch, '
          f'{args.reps} processes × {args.epochs} timed epochs each after a warm-up epoch, 2 CPU threads:')
    for label, t in (('wall', times), ('CPU (both threads; less moved by other jobs)', cpu)):
        old = np.array(t['old'])
        print(f'  {label}: old (per-item, precomputed images; {args.old}) median {np.median(old):.2f} s')
        for name in variants:
            if name == 'old': continue
            new = np.array(t[name])
            print(f'    {name}: median {np.median(new):.2f} s; new/old {np.median(new) / np.median(old):.3f} '
                  f'(median of paired ratios {np.median(new / old):.3f})')


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n-eegs', type=int, default=400)
    ap.add_argument('--arch', default='resnet34d')
    ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--epochs', type=int, default=2, help='timed epochs per process')
    ap.add_argument('--reps', type=int, default=3, help='processes per variant')
    ap.add_argument('--windows', nargs='+', default=['centre', 'random'], help='new-path settings to compare')
    ap.add_argument('--old', default=OLD, help='git revision of the old data path')
    ap.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    ap.add_argument('--data', help=argparse.SUPPRESS), ap.add_argument('--cache', help=argparse.SUPPRESS)
    ap.add_argument('--window', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker: worker(a.data, a.cache, a.arch, a.bs, a.epochs, a.window)
    else: main(a)
