"""Experiment configs: one dataclass per kind of system (data, not code), and the registry of the log's systems."""
from dataclasses import dataclass, replace

from ..core.constants import CHANNELS
from ..core.defaults import ARCH, BS, EPOCHS, EPOCHS2, LR, RAW_ARCH

__all__ = ['ExperimentConfig', 'ImageConfig', 'RawConfig', 'EnsembleConfig', 'BlendConfig', 'PseudoConfig', 'TabularConfig',
           'NaiveConfig', 'SPEC_CHANNELS', 'CONFIGS', 'REFERENCES']

SPEC_CHANNELS = tuple(c for c in CHANNELS if c.startswith('spec_'))


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """What every named config carries: the original system's public LB (context only) and a short description."""
    lb: float | None = None
    about: str = ''

    def parts(self) -> set:
        """The store halves ('spec', 'eeg') this config reads."""
        return {c.split('_')[0] for c in self.channels}

    def overridden(self, **changes) -> 'ExperimentConfig':
        """This config with a run's overrides of the fields it has (None: keep), e.g. epochs, epochs2, bs, windows."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None and hasattr(self, k)})


@dataclass(frozen=True, kw_only=True)
class ImageConfig(ExperimentConfig):
    """A vision learner on a timm body over some of the 8 channels, one per fold; stage 2 on expert rows when epochs2 > 0."""
    arch: str = ARCH
    channels: tuple[str, ...] = tuple(CHANNELS)
    epochs: int = EPOCHS
    epochs2: int = EPOCHS2
    lr: float = LR
    pretrained: bool | str = False    # True, or a local timm weights file (fine_tune then; use a lower lr, e.g. 1e-3)
    bs: int = BS
    flip: float = 0.5
    mask: float = 0.5
    mixup: float = 0.0
    windows: str | None = None        # training windows: 'random' or 'centre' (None: random on a GPU, centre on CPU)
    jitter: float = 0.0               # seconds a training window may move (the run's store keeps that margin)
    vote_weight: bool = False         # stage 1 weighs each row's loss by total_votes / 20
    seed_offset: int = 0              # added to the run's seed: ensemble members differ by it
    kind: str = 'image'               # what the model reads: the 8-channel image ('signal': RawConfig)


@dataclass(frozen=True, kw_only=True)
class RawConfig(ImageConfig):
    """The raw-EEG learner (hms_raw_learner) on the 16 bipolar chains of a label window, one per fold."""
    kind: str = 'signal'
    arch: str = RAW_ARCH
    channels: tuple[str, ...] = tuple(CHANNELS[4:])     # the store half it reads


@dataclass(frozen=True, kw_only=True)
class BlendConfig(ExperimentConfig):
    """Configs of the run (by name, run before it) combined: equal weights, or weights fitted on their OOF (on `on` rows)."""
    members: tuple[str, ...] = ()
    fitted: bool = True
    on: str = 'expert'

    def parts(self) -> set:
        """Nothing of its own: its members read the store."""
        return set()


@dataclass(frozen=True, kw_only=True)
class PseudoConfig(ExperimentConfig):
    """A second round of config `base` (run before it) with low-vote rows pseudo-labelled by its fold models (no leak)."""
    base: str = ''
    below: int = 10
    keep: float = 0.1

    def parts(self) -> set:
        """What its base reads (the run prepares it for the base)."""
        return set()


@dataclass(frozen=True, kw_only=True)
class EnsembleConfig(ExperimentConfig):
    """The mean of image configs trained on the same folds: OOF is the mean of the members' OOF predictions."""
    members: tuple[ImageConfig, ...] = ()

    def parts(self) -> set:
        """The store halves its members read."""
        return set().union(*(m.parts() for m in self.members))

    def overridden(self, **changes) -> 'EnsembleConfig':
        """Every member overridden."""
        return replace(self, members=tuple(m.overridden(**changes) for m in self.members))


@dataclass(frozen=True, kw_only=True)
class TabularConfig(ExperimentConfig):
    """Spectrogram summary features → fastai tabular_learner, or CatBoost when installed and `catboost=True`."""
    bands: int = 10
    layers: tuple[int, ...] = (200, 100)
    epochs: int = 30
    lr: float = 1e-2
    bs: int = 64
    catboost: bool = False
    iterations: int = 1000            # CatBoost trees

    def parts(self) -> set:
        """Only the Kaggle spectrogram."""
        return {'spec'}


@dataclass(frozen=True, kw_only=True)
class NaiveConfig(ExperimentConfig):
    """The negative control of naive.py: hard labels, cross-entropy, frozen random body, vocab columns, random TTA."""
    arch: str = 'resnet34'
    channels: tuple[str, ...] = tuple(CHANNELS)
    epochs: int = 4
    lr: float = 1e-3
    bs: int = BS
    tta: bool = True


CONFIGS = {   # name → config; add your own (the name is the folder under out_dir)
    'tabular': TabularConfig(lb=0.81, about='CatBoost starter (LB 0.81, tuned 0.67): spectrogram summaries → tabular model'),
    'effnet_b0_8ch': ImageConfig(arch='efficientnet_b0', lb=0.57, about='EfficientNetB0 on the 8 channels'),
    'resnet34d_spec': ImageConfig(channels=SPEC_CHANNELS, lb=0.47, about='ResNet34d on the Kaggle spectrogram only'),
    'resnet34d_8ch': ImageConfig(about='ResNet34d on the 8 channels'),
    # 6 learners behind every prediction, all on the run's folds: 8 channels and spectrogram-only, seeds +0..2 each.
    # Seed +0 members are identical to the two rows above and are trained once per run (cost: 4 more K-fold trainings).
    'resnet34d_ens6': EnsembleConfig(members=tuple(ImageConfig(channels=c, seed_offset=s)
                                                   for c in (tuple(CHANNELS), SPEC_CHANNELS) for s in range(3)),
                                     lb=0.45, about='6 ResNet34d (8 ch and spectrogram × 3 seeds) averaged'),
    'raw_eeg_1d': RawConfig(about='1D XResNet on the 16 bipolar chains, 0.5-20 Hz at 50 Hz (the top solutions\' raw-EEG lever)'),
    'ensemble': BlendConfig(members=('resnet34d_spec', 'resnet34d_8ch', 'raw_eeg_1d', 'tabular'), fitted=False,
                            about='the image, raw-EEG and tabular configs averaged with equal weights'),
    'blend': BlendConfig(members=('resnet34d_spec', 'resnet34d_8ch', 'raw_eeg_1d', 'tabular'),
                         about='the same, weighted by a non-negative blend fitted on their OOF expert rows (1st place)'),
    'pseudo_resnet34d_spec': PseudoConfig(base='resnet34d_spec', about='resnet34d_spec again on pseudo-labelled low-vote rows (8th place)'),
    'naive_fastai_resnet34': NaiveConfig(lb=1.14, about='negative control: the failed fastai attempt (see naive.MISTAKES)'),
}

REFERENCES = {'prior': ('train prior (OOF: the other folds\' mean votes)', None), 'uniform': ('1/6 everywhere', 1.09)}
