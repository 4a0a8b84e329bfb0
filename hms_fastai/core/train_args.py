"""The one schema of training arguments: `TrainArgs` holds each argument once, with its default, its rule and its note.

`train_fold`/`train_folds` take it, the experiment configs are instances of it, the CLI's `train` flags are generated
from it (help from the notes beside the fields), and the notebooks read their settings from it.
"""
import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field, fields

from .constants import CHANNELS, HALVES, SIGNAL_CHANNELS, TARGET_LEVELS, WINDOWS
from .errors import HMSDataError

__all__ = ['SEED', 'PRECISIONS', 'TrainArgs', 'arg_rule', 'check_arg', 'parse_channels']

SEED = 0                                             # the one seed: synthetic data, folds and training
PRECISIONS = ('auto', 'bf16', 'fp16', 'fp32')        # auto: chosen from the device (learn.learner.choose_precision)


def arg_rule(default, low=None, high=None, open_low: bool = False, choices=None):
    """A dataclass field with its default and the rule its values obey (a range or a set of choices)."""
    return field(default=default, metadata={'low': low, 'high': high, 'open_low': open_low, 'choices': choices})


def parse_channels(value) -> tuple | None:
    """Channels as given (None or 'all', a half 'spec'/'eeg', a comma list or a sequence of names) → a tuple or None (all)."""
    if value is None or value == 'all': return None
    if isinstance(value, str): value = HALVES.get(value, value.split(','))
    names = tuple(str(v).strip() for v in value)
    unknown = [n for n in names if n not in CHANNELS and n not in SIGNAL_CHANNELS]
    if unknown or not names: raise HMSDataError('channels', f'unknown channel(s) {unknown}; known: all, spec, eeg, {CHANNELS}')
    if len(set(names)) != len(names): raise HMSDataError('channels', f'repeated channel(s) in {list(names)}')
    return names


def _types(f: dataclasses.Field) -> tuple:
    """The types a field admits (its annotation's union members; NoneType when it may be None)."""
    t = f.type
    return typing.get_args(t) if isinstance(t, types.UnionType) or typing.get_origin(t) is typing.Union else (t,)


def check_arg(name: str, value):
    """`value` as field `name` of TrainArgs takes it (ints as floats where floats are wanted); HMSDataError naming it if not."""
    f = _FIELDS[name]
    admits = _types(f)
    if value is None:
        if type(None) in admits: return None
        raise HMSDataError(name, 'must be given (None is not allowed)')
    if name == 'channels': return parse_channels(value)
    if isinstance(value, list): value = tuple(value)
    if isinstance(value, os.PathLike): value = os.fspath(value)           # a path (weights, a first round) as text
    base = [t for t in admits if t is not type(None)]
    if float in base and isinstance(value, int) and not isinstance(value, bool): value = float(value)
    ok = any(isinstance(value, typing.get_origin(t) or t) and (t is bool or not isinstance(value, bool)) for t in base)
    if ok and isinstance(value, tuple):
        item = typing.get_args(next(t for t in base if typing.get_origin(t) is tuple))[0]
        ok = all(isinstance(v, item) and not isinstance(v, bool) for v in value)
    if not ok: raise HMSDataError(name, f'expected {" or ".join(getattr(t, "__name__", str(t)) for t in admits)}, got {value!r}')
    rule = f.metadata
    if rule.get('choices') and value not in rule['choices']:
        raise HMSDataError(name, f'must be one of {list(rule["choices"])}, got {value!r}')
    for v in value if isinstance(value, tuple) else [value]:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            low, high = rule.get('low'), rule.get('high')
            if v != v or (low is not None and (v < low or (rule['open_low'] and v == low))) or (high is not None and v > high):
                span = (f'in {"(" if rule["open_low"] else "["}{low:g}, {high:g}]' if high is not None else
                        f'{"more than" if rule["open_low"] else "at least"} {low:g}')
                raise HMSDataError(name, f'must be {span}, got {v:g}')
    return value


@dataclass(frozen=True, kw_only=True)
class TrainArgs:
    """Every argument of a training run, each with its one default; `TrainArgs(**changes)` checks every value."""
    kind: str = 'image'                             # what the model reads: 'image' (8-channel image) or 'signal' (16 EEG chains)
    arch: str | None = None                         # the body: a timm model (image) or xresnet1d18|34|50 (signal); None: the kind's
    channels: tuple[str, ...] | None = None         # input channels: all (None), a half 'spec'/'eeg', or a comma list of names
    pretrained: bool | str = False                  # a local timm weights file (then fine_tune; use lr ≈ 1e-3), True: download
    epochs: int = arg_rule(8, low=1)                # stage 1: epochs on all training rows
    epochs2: int = arg_rule(4, low=0)               # stage 2: epochs on expert training rows at lr2 (0: one stage)
    lr: float = arg_rule(5e-3, low=0, high=1, open_low=True)          # one-cycle peak lr (from scratch; ≈1e-3 with weights)
    lr2: float | None = arg_rule(None, low=0, high=1, open_low=True)  # stage 2's peak lr (None: lr / 10)
    bs: int = arg_rule(32, low=2)                   # batch size
    flip: float = arg_rule(0.5, low=0, high=1)      # chance a training item's hemispheres are swapped
    mask: float = arg_rule(0.5, low=0, high=1)      # chance a training image gets SpecAugment time and frequency masks
    mixup: float = arg_rule(0.0, low=0)             # soft-label MixUp alpha (0: off)
    windows: str = arg_rule('random', choices=WINDOWS)   # training windows: one of an eeg's label windows drawn each epoch, or the centre one
    jitter: float = arg_rule(0.0, low=0)            # seconds a training window may move either way
    targets: str = arg_rule('window', choices=TARGET_LEVELS)   # training targets: the drawn window's own votes, or the eeg's
    vote_weight: bool = False                       # stage 1 weighs each row's loss by its total votes / 20
    monitor: str = 'valid_loss'                     # stage 1 keeps its best epoch by this validation figure
    monitor2: str = 'kl_expert'                     # stage 2 keeps its best epoch by this one
    precision: str = arg_rule('auto', choices=PRECISIONS)   # auto: bf16 on Ampere+, fp16 on Volta/Turing, else fp32
    seed: int = arg_rule(SEED, low=0)               # folds, weights, windows and augmentations
    folds: int = arg_rule(5, low=2)                 # patient-grouped folds
    folds_used: tuple[int, ...] | None = arg_rule(None, low=0)   # the folds to train (None: all of them)
    pseudo: str | None = None                       # a first round's run folder: train a second round on its pseudo-labels
    pseudo_below: int = arg_rule(10, low=1)         # rows with fewer votes than this are pseudo-labelled
    pseudo_keep: float = arg_rule(0.1, low=0, high=1)   # the share of their own votes pseudo-labelled rows keep
    num_workers: int = arg_rule(0, low=0)           # DataLoader worker processes (memory-mapped stores only)

    def __post_init__(self):
        for name in _FIELDS: object.__setattr__(self, name, check_arg(name, getattr(self, name)))
        if self.pretrained == 'none': object.__setattr__(self, 'pretrained', False)
        if self.folds_used is not None and max(self.folds_used) >= self.folds:
            raise HMSDataError('folds_used', f'{list(self.folds_used)} must be below folds={self.folds}')
        if self.targets == 'window' and self.pseudo:
            raise HMSDataError('targets', "'window' trains on each label window's own votes; pseudo-labels are per eeg: "
                                          "use targets='eeg' with pseudo")

    def replace(self, **changes) -> 'TrainArgs':
        """A copy with `changes` (TypeError naming any that is not an argument)."""
        known = [f.name for f in fields(self)]
        unknown = sorted(set(changes) - set(known))
        if unknown: raise TypeError(f'unknown training argument(s) {unknown}; known: {known}')
        return dataclasses.replace(self, **changes)

    @classmethod
    def split(cls, args: 'TrainArgs | None' = None, **kwargs) -> tuple['TrainArgs', dict]:
        """(`args` (default TrainArgs()) with the fields among `kwargs` replaced, the other kwargs)."""
        mine = {k: kwargs.pop(k) for k in list(kwargs) if k in _FIELDS}
        return (args or cls()).replace(**mine), kwargs

    def record(self) -> dict:
        """The arguments as JSON-able values (tuples as lists), e.g. for a run's manifest."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


_FIELDS = {f.name: f for f in fields(TrainArgs)}
