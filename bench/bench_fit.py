"""Benchmark training and inference: a fastai `fit` epoch vs a plain PyTorch loop (same model, data, bs); TTA throughput."""
import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _loader(store, table, bs: int, train: bool):
    """A plain torch DataLoader of (image, votes) batches read from the store."""
    from torch.utils.data import DataLoader

    from hms_fastai.core.constants import TARGETS
    ids, ys = table.eeg_id.to_numpy(), torch.tensor(table[TARGETS].to_numpy(np.float32))
    return DataLoader(list(range(len(ids))), batch_size=bs, shuffle=train, drop_last=train,
                      collate_fn=lambda b: (torch.from_numpy(store.images(ids[b])), ys[b]))


def _plain_epoch(model, store, table, bs: int, lr: float):
    """One epoch of a hand-written PyTorch loop: train with AdamW and the KL loss, then validate with the Kaggle KL."""
    from hms_fastai.competition.score import kl_rows
    from hms_fastai.learn.metrics import KLDivLossFlat
    opt, loss_func = torch.optim.AdamW(model.parameters(), lr=lr), KLDivLossFlat()
    model.train()
    for x, y in _loader(store, table[table.fold != 0], bs, True):
        loss = loss_func(model(x), y)
        loss.backward(); opt.step(); opt.zero_grad()
    model.eval()
    with torch.no_grad():
        out = [(torch.softmax(model(x), 1), y) for x, y in _loader(store, table[table.fold == 0], bs, False)]
    return kl_rows(torch.cat([y for _, y in out]).numpy(), torch.cat([p for p, _ in out]).numpy()).mean()


def main(n_eegs: int, arch: str, bs: int, reps: int, n_infer: int, work: Path):
    from hms_fastai.competition.io import load_competition
    from hms_fastai.competition.meta import fold_table
    from hms_fastai.competition.synth import make_synthetic
    from hms_fastai.learn.data import hms_dls, hms_test_dl
    from hms_fastai.learn.learner import hms_learner
    from hms_fastai.signals.prepare import prepare
    data = make_synthetic(work / 'data', n_eegs=n_eegs, n_test=n_infer, seed=0)
    store, test = prepare(data, work / 'cache', 'train'), prepare(data, work / 'cache', 'test')
    table = fold_table(load_competition(data, test=False), 5, seed=0)
    dls = hms_dls(table, store, fold=0, kind='image', bs=bs, seed=0)
    learn = hms_learner(dls, arch, seed=0, precision='fp32')          # the plain loop below runs in float32 too
    model0 = copy.deepcopy(learn.model)

    def fastai_epoch():
        learn.model.load_state_dict(model0.state_dict())
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)

    def plain_epoch(): _plain_epoch(copy.deepcopy(model0), store, table, bs, 1e-3)

    fastai_epoch(); plain_epoch()                          # warm-up: the first epoch of a process pays allocator/kernel setup
    fastai_t, plain_t = [], []
    for _ in range(reps):                                   # alternate to share the machine's noise fairly
        for f, times in ((fastai_epoch, fastai_t), (plain_epoch, plain_t)):
            t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
    f, p = np.median(fastai_t), np.median(plain_t)
    paired = np.median(np.array(fastai_t) / np.array(plain_t))
    print(f'{arch} ({learn.precision["note"]}), {int((table.fold != 0).sum())} train + {int((table.fold == 0).sum())} valid images, bs {bs}, '
          f'median of {reps} epochs after one warm-up epoch each:')
    print(f'  fastai fit epoch: {f:.2f}s; plain PyTorch loop (train + validate): {p:.2f}s; fastai overhead '
          f'{100 * (f / p - 1):+.1f}% (median of paired ratios {100 * (paired - 1):+.1f}%)')
    print(f'  per-epoch seconds, fastai {np.round(fastai_t, 2).tolist()}, plain {np.round(plain_t, 2).tolist()}')
    dl = hms_test_dl(learn.dls, test.table, test)
    for flip in (False, True):
        t = time.perf_counter()
        with learn.no_bar(): learn.tta(dl=dl, flip=flip)
        print(f'  inference {"with" if flip else "without"} flip TTA: {len(test) / (time.perf_counter() - t):.1f} eegs/s')


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--n-eegs', type=int, default=200)
    ap.add_argument('--arch', default='resnet34d')
    ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--n-infer', type=int, default=64)
    a = ap.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as d: main(a.n_eegs, a.arch, a.bs, a.reps, a.n_infer, Path(d))
