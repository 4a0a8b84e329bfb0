"""Experiment configs: one dataclass per kind of system (data, not code), and the registry of the log's systems."""
from dataclasses import dataclass, replace

from ..core.train_args import TrainArgs

__all__ = ['ExperimentConfig', 'TrainConfig', 'EnsembleConfig', 'BlendConfig', 'PseudoConfig', 'TabularConfig', 'NaiveConfig',
           'CONFIGS', 'REFERENCES']


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """What every named config carries: the original system's public LB (context only) and a short description."""
    lb: float | None = None           # the original system's public leaderboard KL
    about: str = ''                   # one line for the results table

    def overridden(self, **changes) -> 'ExperimentConfig':
        """This config with a run's overrides of the fields it has (None: keep), e.g. epochs, epochs2, bs, windows."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None and hasattr(self, k)})


@dataclass(frozen=True, kw_only=True)
class TrainConfig(TrainArgs, ExperimentConfig):
    """A learner of any kind trained per fold with the schema's training arguments (TrainArgs), named in the registry."""
    seed_offset: int = 0              # added to the run's seed: ensemble members differ by it

    def train_args(self, seed: int) -> TrainArgs:
        """The training arguments of this config in a run with `seed`."""
        return TrainArgs(**{k: getattr(self, k) for k in TrainArgs.__dataclass_fields__}).replace(seed=seed + self.seed_offset)


@dataclass(frozen=True, kw_only=True)
class BlendConfig(ExperimentConfig):
    """Configs of the run (by name, run before it) combined: equal weights, or weights fitted on their OOF (on `on` rows)."""
    members: tuple[str, ...] = ()    # config names
    fitted: bool = True               # weights fitted on the OOF (else equal)
    on: str = 'expert'                # the OOF rows the weights are fitted on: 'expert' or 'all'


@dataclass(frozen=True, kw_only=True)
class PseudoConfig(ExperimentConfig):
    """A second round of config `base` (run before it) with low-vote rows pseudo-labelled by its fold models (no leak)."""
    base: str = ''                    # the first round's config name
    below: int = TrainArgs.pseudo_below   # rows with fewer votes are pseudo-labelled
    keep: float = TrainArgs.pseudo_keep   # the share of their own votes they keep


@dataclass(frozen=True, kw_only=True)
class EnsembleConfig(ExperimentConfig):
    """The mean of configs trained on the same folds: OOF is the mean of the members' OOF predictions."""
    members: tuple[TrainConfig, ...] = ()

    def overridden(self, **changes) -> 'EnsembleConfig':
        """Every member overridden."""
        return replace(self, members=tuple(m.overridden(**changes) for m in self.members))


@dataclass(frozen=True, kw_only=True)
class TabularConfig(ExperimentConfig):
    """Spectrogram summary features → fastai tabular_learner, or CatBoost when installed and `catboost=True`."""
    bands: int = 10                   # frequency bands per region (must divide the 100 bins)
    layers: tuple[int, ...] = (200, 100)  # tabular_learner's hidden layers
    epochs: int = 30
    lr: float = 1e-2
    bs: int = 64
    catboost: bool = False            # CatBoost when installed, else fastai's tabular_learner
    iterations: int = 1000            # CatBoost trees


@dataclass(frozen=True, kw_only=True)
class NaiveConfig(TrainConfig):
    """The negative control of naive.py: hard labels, cross-entropy, frozen random body, vocab columns, random TTA."""
    arch: str = 'resnet34'            # fastai's usual first body
    epochs: int = 4
    epochs2: int = 0
    lr: float = 1e-3
    tta: bool = True                  # fastai's random-augmentation tta (the fifth mistake)


CONFIGS = {   # name → config; add your own (the name is the folder under out_dir)
    'tabular': TabularConfig(lb=0.81, about='CatBoost starter (LB 0.81, tuned 0.67): spectrogram summaries → tabular model'),
    'effnet_b0_8ch': TrainConfig(arch='efficientnet_b0', lb=0.57, about='EfficientNetB0 on the 8 channels'),
    'resnet34d_spec': TrainConfig(channels='spec', lb=0.47, about='ResNet34d on the Kaggle spectrogram only'),
    'resnet34d_8ch': TrainConfig(about='ResNet34d on the 8 channels'),
    # 6 learners behind every prediction, all on the run's folds: 8 channels and spectrogram-only, seeds +0..2 each.
    # Seed +0 members are identical to the two rows above and are trained once per run (cost: 4 more K-fold trainings).
    'resnet34d_ens6': EnsembleConfig(members=tuple(TrainConfig(channels=c, seed_offset=s) for c in (None, 'spec') for s in range(3)),
                                     lb=0.45, about='6 ResNet34d (8 ch and spectrogram × 3 seeds) averaged'),
    'raw_eeg_1d': TrainConfig(kind='signal', about='1D XResNet on the 16 bipolar chains, 0.5-20 Hz at 50 Hz (the top solutions\' raw-EEG lever)'),
    'ensemble': BlendConfig(members=('resnet34d_spec', 'resnet34d_8ch', 'raw_eeg_1d', 'tabular'), fitted=False,
                            about='the image, raw-EEG and tabular configs averaged with equal weights'),
    'blend': BlendConfig(members=('resnet34d_spec', 'resnet34d_8ch', 'raw_eeg_1d', 'tabular'),
                         about='the same, weighted by a non-negative blend fitted on their OOF expert rows (1st place)'),
    'pseudo_resnet34d_spec': PseudoConfig(base='resnet34d_spec', about='resnet34d_spec again on pseudo-labelled low-vote rows (8th place)'),
    'naive_fastai_resnet34': NaiveConfig(lb=1.14, about='negative control: the failed fastai attempt (see naive.MISTAKES)'),
}

REFERENCES = {'prior': ('train prior (OOF: the other folds\' mean votes)', None), 'uniform': ('1/6 everywhere', 1.09)}
