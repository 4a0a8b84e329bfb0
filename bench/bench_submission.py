"""The full test set timed: a synthetic test split of 3,000 eegs through `prepare --split test` and `predict` with a
5-fold × 2-config ensemble (10 learners) and flip TTA; where the time goes (each learner's TTA, the store, the load).

The learners are trained briefly (their quality is not the point: inference costs the same); only the submission path is
timed: `submit` (prepare + predict + the submission file) as the submission notebook runs it, split by timing its calls.
"""
import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def timed(owner, name: str, into, key=None):
    """Wrap `owner.name` so that each call's seconds are added to into[key] (a dict) or appended to it (a list)."""
    f = getattr(owner, name)

    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try: return f(*args, **kwargs)
        finally:
            if key is None: into.append(time.perf_counter() - t)
            else: into[key] += time.perf_counter() - t
    setattr(owner, name, wrapper)


def main(a, work: Path):
    from hms_fastai.competition.io import load_competition
    from hms_fastai.competition.meta import fold_table
    from hms_fastai.competition.synth import make_synthetic
    from hms_fastai.core.train_args import TrainArgs
    from hms_fastai.learn import infer
    from hms_fastai.learn.device import precision_plan
    from hms_fastai.learn.infer import submit
    from hms_fastai.learn.learner import HMSLearner
    from hms_fastai.learn.recipes import train_folds
    from hms_fastai.signals.prepare import prepare
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f'CPU, {torch.get_num_threads()} threads'
    t = time.perf_counter()
    data = make_synthetic(work / 'data', n_eegs=a.n_train, n_test=a.n_test, seed=0)
    print(f'synthetic data: {a.n_train} train / {a.n_test} test eegs in {time.perf_counter() - t:.0f}s', flush=True)
    train = prepare(data, work / 'train_cache', 'train')
    table = fold_table(load_competition(data, test=False), a.folds, seed=0)
    runs = {}
    for name, channels in (('8ch', None), ('spec', 'spec')):
        args = TrainArgs(kind='image', arch=a.arch, epochs=1, epochs2=0, bs=16, channels=channels, windows='centre', folds=a.folds)
        train_folds(table, train, work / name, args)
        runs[name] = work / name
    timings = {'prepare --split test': 0.0, f'load {a.folds * 2} weights-only learners': 0.0}
    per = []
    timed(infer, 'prepare', timings, 'prepare --split test')
    timed(infer, 'load_learners', timings, f'load {a.folds * 2} weights-only learners')
    timed(HMSLearner, 'tta', per)                # the learners' own tta (fastai's Learner.tta is overridden)
    t0 = time.perf_counter()
    submit(list(runs.values()), data, work / 'test_cache', work / 'submission.csv', bs=a.bs)   # what the notebook runs
    timings[f'TTA of {len(per)} learners (each: plain + flipped)'] = sum(per)
    total = time.perf_counter() - t0
    timings['the rest (test.csv, ensemble, submission)'] = total - sum(timings.values())
    print(f'\n{a.n_test} test eegs, {len(per)} learners ({a.arch}, flip TTA), {device}, {precision_plan()["note"]}:')
    for k, v in timings.items(): print(f'  {k}: {v:.1f} s ({100 * v / total:.0f} %)')
    print(f'  per learner: {np.median(per):.1f} s median = {a.n_test / np.median(per):.0f} eegs/s with TTA')
    print(f'  total: {total:.1f} s = {total / 60:.1f} min')
    if os.environ.get('OUT'): (Path(os.environ['OUT']) / 'bench_submission.json').write_text(json.dumps({**timings, 'total': total}))


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n-test', type=int, default=3000)
    ap.add_argument('--n-train', type=int, default=100)
    ap.add_argument('--folds', type=int, default=5)
    ap.add_argument('--arch', default='resnet34d')
    ap.add_argument('--bs', type=int, default=64)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d: main(args, Path(d))
