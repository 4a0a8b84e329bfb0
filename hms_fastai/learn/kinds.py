"""The kinds of model input, one registry record each (in the manner of timm's model registry): what a kind reads from the
signal store, how a batch becomes its input, its default body, how its learner and (from an export) its model are made.

A third kind is one new module that builds a `Kind` and calls `register_kind`; `hms_dls`, `hms_learner`, `train_folds`,
the exports and `predict` then serve it through `get_kind`.
"""
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..core.constants import TARGETS
from ..core.errors import HMSDataError

__all__ = ['Kind', 'register_kind', 'get_kind', 'kind_names']

_KINDS: dict = {}


@dataclass(frozen=True)
class Kind:
    """One kind of model input: its store parts and channels, batch assembly, default body, learner, model and TTA."""
    name: str                       # the word `train --kind` and an export's spec use
    arch: str                       # its default body
    channels: tuple                 # the input channels it can take, in order
    assembly: type                  # an InputAssembly: a batch's raw windows → the model's input, on the batch's device
    model: Callable                 # (arch, n_in, n_out, **head) → a freshly initialised nn.Module (rebuilds exports)
    input_shape: Callable           # n_in → the shape of one input item (checks a body before training)
    learner: Callable | None = None     # (dls, model arch, n_in, n_out, pretrained, **learner kwargs) → Learner; None: plain
    store_channels: tuple | None = None  # the store channels it reads (None: its input channels themselves)
    mels: bool = False              # reads the store's centre-window mels (the image's EEG half) rather than raw chains
    head_args: tuple = ()           # learner keyword arguments that shape the model (kept in exports)
    flip: bool = True               # TTA: its channels come in left/right mirror pairs (mean of plain and flipped)
    pretrained: bool = False        # whether its bodies take pretrained weights
    spatial: bool = False           # 2-D inputs: channels_last can help under mixed precision
    about: str = field(default='', compare=False)   # one line for help texts

    def input_channels(self, channels=None) -> list[str]:
        """The model's input channels for a request (None: all it takes); HMSDataError naming ones it cannot take."""
        if channels is None: return list(self.channels)
        if self.store_channels is not None and list(channels) != list(self.channels):
            raise HMSDataError('channels', f"the {self.name} kind reads all of {list(self.channels)}, not a subset")
        unknown = [c for c in channels if c not in self.channels]
        if unknown: raise HMSDataError('channels', f'the {self.name} kind cannot read {unknown}; it takes {list(self.channels)}')
        return [c for c in self.channels if c in channels]

    def reads(self, channels=None) -> list[str]:
        """The store channels a request reads."""
        return list(self.store_channels) if self.store_channels is not None else self.input_channels(channels)

    def check_body(self, arch: str, n_in: int, head: dict | None = None):
        """HMSDataError (naming `arch`) unless the body builds for n_in inputs and maps one input item to the 6 logits."""
        try:
            model = self.model(arch, n_in, len(TARGETS), **(head or {})).eval()
            with torch.no_grad(): out = model(torch.zeros(2, *self.input_shape(n_in)))
        except Exception as e:
            first = str(e).splitlines()[0] if str(e) else ''
            raise HMSDataError('arch', f'{arch!r} is not a body for {n_in} input channels of kind {self.name!r} '
                                       f'({type(e).__name__}: {first})') from None
        if tuple(out.shape) != (2, len(TARGETS)):
            raise HMSDataError('arch', f'{arch!r} gives outputs of shape {tuple(out.shape)[1:]}, not the {len(TARGETS)} logits')


def register_kind(kind: Kind) -> Kind:
    """Add `kind` to the registry (a kind's module does this on import); return it."""
    _KINDS[kind.name] = kind
    return kind


def get_kind(name) -> Kind:
    """The registered kind called `name` (a Kind passes through); HMSDataError listing the known ones."""
    if isinstance(name, Kind): return name
    if name not in _KINDS: raise HMSDataError('kind', f'unknown kind {name!r}; known: {kind_names()}')
    return _KINDS[name]


def kind_names() -> list[str]:
    """The names of the registered kinds."""
    return list(_KINDS)
