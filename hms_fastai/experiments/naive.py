"""The negative control: the log's failed fastai attempt (LB 1.14) with its five mistakes kept on purpose."""
from .. import learn as _quiet_fastai  # noqa: F401  (first: fastai is imported quietly there)

import fastai.callback.schedule  # noqa: F401  (Learner.fit_one_cycle)
import numpy as np
import pandas as pd
from fastai.data.block import CategoryBlock, DataBlock
from fastai.data.core import DataLoaders
from fastai.data.transforms import ColReader, ColSplitter
from fastai.learner import Learner
from fastai.torch_core import set_seed
from fastai.vision.learner import vision_learner

from ..competition.score import target_frame
from ..core.constants import CLASSES
from ..core.train_args import TrainArgs
from ..learn.augment import hms_augs
from ..learn.data import StoreBlock, dl_channels
from ..learn.learner import readable_progress
from .configs import NaiveConfig

__all__ = ['VOCAB', 'MISTAKES', 'naive_dls', 'naive_learner', 'train_naive_fold', 'naive_probs', 'naive_frame']

VOCAB = sorted(CLASSES)           # what CategoryBlock makes of expert_consensus: GPD GRDA LPD LRDA Other Seizure

MISTAKES = (  # (what the control does, the package default that prevents it)
    ('hard labels: expert_consensus through a CategoryBlock, the vote spread thrown away',
     'VoteBlock: the 6 soft vote fractions are the target'),
    ('cross-entropy on hard labels: trained for argmax accuracy, confident where experts disagree',
     'KLDivLossFlat: the competition KL on soft targets, softmax as its activation'),
    ('alphabetical vocab (GPD GRDA LPD LRDA Other Seizure) written under TARGETS: 5 of 6 columns hold another class',
     'probabilities kept in TARGETS order end to end; write_submission names them'),
    ('body frozen as fastai does for pretrained weights, but the weights are random: only head and BatchNorm learn',
     'hms_learner(pretrained=False) freezes nothing; with weights, fine_tune unfreezes after one epoch'),
    ("fastai's Learner.tta: 4 passes of the random training augmentations, weighted 3:1 against the plain pass",
     'HMSLearner.tta: the mean of identity and a deterministic hemisphere flip'),
)


def naive_dls(table: pd.DataFrame, store, fold: int = 0, bs: int = TrainArgs.bs, channels: list[str] | None = None,
              seed: int | None = None) -> DataLoaders:
    """Mistake 1: (image, expert_consensus category) DataLoaders; rows of `fold` validate; random flip/mask batch_tfms."""
    # vocab=VOCAB is what CategoryBlock derives from the full data; fixed, so a fold lacking a class still has 6 outputs
    if channels is not None: store = store.with_channels(channels)
    if seed is not None: set_seed(seed, reproducible=True)
    block = DataBlock(blocks=(StoreBlock(store, targets='eeg'), CategoryBlock(vocab=VOCAB)), get_y=ColReader('expert_consensus'),
                      splitter=ColSplitter('fold', on=fold), batch_tfms=hms_augs()[0])
    return block.dataloaders(table.reset_index(drop=True), bs=bs, num_workers=0)


def naive_learner(dls: DataLoaders, arch: str = NaiveConfig.arch, seed: int | None = None) -> Learner:
    """Mistakes 2 and 4: vision_learner with fastai's default loss for categories (cross-entropy), body frozen."""
    if seed is not None: set_seed(seed, reproducible=True)
    learn = vision_learner(dls, arch, n_in=len(dl_channels(dls)), pretrained=False, normalize=False)
    learn.freeze()                # what vision_learner does for pretrained=True: here it freezes random weights
    return readable_progress(learn)


def train_naive_fold(table: pd.DataFrame, store, fold: int = 0, arch: str = NaiveConfig.arch, epochs: int = NaiveConfig.epochs,
                     lr: float = NaiveConfig.lr, bs: int = TrainArgs.bs, channels: list[str] | None = None,
                     seed: int | None = None) -> Learner:
    """One fold of the control: fit_one_cycle on the frozen learner (never unfrozen)."""
    learn = naive_learner(naive_dls(table, store, fold, bs, channels, seed), arch, seed)
    learn.fit_one_cycle(epochs, lr)
    return learn


def naive_probs(learn: Learner, dl=None, tta: bool = True) -> np.ndarray:
    """Mistake 5: the learner's probabilities (vocab order) of `dl` (default: validation), with fastai's random TTA."""
    dl = dl if dl is not None else learn.dls.valid.new(shuffle=False, drop_last=False)
    return (Learner.tta(learn, dl=dl) if tta else learn.get_preds(dl=dl))[0].numpy()


def naive_frame(eeg_ids, probs: np.ndarray) -> pd.DataFrame:
    """Mistake 3: vocab-ordered probabilities written under the TARGETS column names, unchanged."""
    return target_frame(eeg_ids, probs)
