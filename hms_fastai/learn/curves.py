"""Learning curves: the per-epoch history of trained folds (fastai's recorder values, each stage marked) as one figure, and
live to TensorBoard through fastai's TensorBoardCallback, a folder per fold."""
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from fastai.callback.core import Callback
from fastai.learner import Recorder
from matplotlib.figure import Figure

from ..core.atomic import atomic_path
from ..core.errors import HMSDataError

__all__ = ['plot_histories', 'TensorBoardFolds']

_LINES = {'train_loss': 'train loss', 'valid_loss': 'valid KL (all rows)', 'kl_expert': 'valid KL (expert rows)'}


def plot_histories(histories: dict,        # name (a run's fold, e.g. 'run1 fold 0') → its history (fold{k}_history.csv)
                   path=None,              # write the figure to this PNG (atomically)
                   ncols: int = 3) -> Figure:
    """One panel per history: train loss and validation KL per epoch (lower is better), stage 2 shaded, the kept epochs ringed."""
    n = len(histories)
    if not n: raise ValueError('no histories to plot')
    ncols = min(ncols, n)
    fig = Figure(figsize=(5 * ncols, 3.4 * -(-n // ncols)), layout='constrained')
    axs = np.asarray(fig.subplots(-(-n // ncols), ncols, squeeze=False)).ravel()
    for ax, (name, h) in zip(axs, histories.items()):
        h = pd.DataFrame(h).reset_index(drop=True)
        x = np.arange(1, len(h) + 1)
        for i, (col, label) in enumerate(_LINES.items()):
            if col in h: ax.plot(x, h[col], marker='.', color=f'C{i}', label=label)
        if 'stage' in h and (h['stage'] == 2).any():
            ax.axvspan(x[(h['stage'] == 2).to_numpy()].min() - 0.5, x[-1] + 0.5, color='0.9', zorder=0, label='stage 2 (expert rows)')
        if 'kept' in h:
            kept = h['kept'].astype(bool).to_numpy()
            monitor = np.where(h.get('stage', 1) == 2, h.get('kl_expert', h['valid_loss']), h['valid_loss'])
            ax.scatter(x[kept], monitor[kept], s=120, facecolors='none', edgecolors='k', zorder=3, label='kept epoch')
        ax.set_title(name)
        ax.set_xlabel('epoch')
        ax.set_ylabel('KL divergence (lower is better)')
    for ax in axs[n:]: ax.set_visible(False)
    axs[0].legend(fontsize='small')
    if path is not None:
        with atomic_path(Path(path), suffix='.png') as tmp: fig.savefig(tmp, format='png', dpi=100)
    return fig


class TensorBoardFolds(Callback):
    """fastai's TensorBoardCallback for every fit of a run, each in `log_dir`/fold{k}/fit{n} (needs the tensorboard package)."""
    order = Recorder.order + 1

    def __init__(self, log_dir):               # e.g. the run folder's tensorboard/: `tensorboard --logdir` it
        try: import tensorboard  # noqa: F401
        except ImportError: raise HMSDataError('--log', "tensorboard is not installed: pip install 'hms_fastai[tensorboard]'") from None
        self.log_dir, self.fits, self.board = Path(log_dir), Counter(), None

    def __call__(self, event_name: str):
        """Start a TensorBoardCallback in the folder of this fit's fold before it, then pass it every event of the fit."""
        if event_name == 'before_fit':
            from fastai.callback.tensorboard import TensorBoardCallback
            fold = int(self.learn.dls.valid.items['fold'].iloc[0])       # the fold validating: every row has it
            self.fits[fold] += 1
            self.board = TensorBoardCallback(self.log_dir / f'fold{fold}' / f'fit{self.fits[fold]}', trace_model=False,
                                             log_preds=False)
            self.board.learn = self.learn
        return None if self.board is None else self.board(event_name)
