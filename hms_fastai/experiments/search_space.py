"""A search space of training arguments (`hms-fastai tune --space FILE.toml`): fixed values beside searched ranges and
choices, every name and bound held to the TrainArgs schema before any trial.

    [fixed]                                   # any training argument, as `train` takes it
    arch = "resnet18d"
    epochs2 = 2

    [search]                                  # a range {low, high[, log][, step]} or a list of choices
    lr = {low = 1e-3, high = 2e-2, log = true}
    epochs = {low = 3, high = 8}              # an integer argument: whole numbers
    windows = ["centre", "random"]
"""
import itertools
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..core.errors import HMSDataError
from ..core.tomlfile import read_toml
from ..core.train_args import TrainArgs, check_arg

__all__ = ['Searched', 'SearchSpace', 'read_space', 'SAME_FOLDS']

SAME_FOLDS = ('folds', 'folds_used', 'seed')      # fixed in a study: every trial is scored on the same rows and folds
_FIELDS = {f.name: f for f in fields(TrainArgs)}
_RANGE_KEYS = ('low', 'high', 'log', 'step')
_CHOICE_TYPES = (str, int, float, bool)           # what an Optuna categorical stores


def _numeric(name: str) -> type | None:
    """int or float when TrainArgs field `name` is a number (None when it is not, e.g. text, a flag or a list)."""
    admits = set(getattr(_FIELDS[name].type, '__args__', (_FIELDS[name].type,))) - {type(None)}
    return next((t for t in (int, float) if admits == {t}), None)


@dataclass(frozen=True)
class Searched:
    """One searched training argument: a range (low to high, log-uniform with `log`, on a grid with `step`) or choices."""
    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple | None = None

    def suggest(self, trial):
        """This argument's value in an Optuna trial."""
        if self.choices is not None: return trial.suggest_categorical(self.name, list(self.choices))
        if _numeric(self.name) is int: return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    @property
    def candidates(self) -> tuple:
        """The values that bound it: its choices, or its range's ends."""
        return self.choices if self.choices is not None else (self.low, self.high)

    def record(self) -> dict:
        """Its rule as JSON-able values."""
        return {'choices': list(self.choices)} if self.choices is not None else {k: getattr(self, k) for k in _RANGE_KEYS}


@dataclass(frozen=True)
class SearchSpace:
    """Fixed training arguments and searched ones (name → Searched); `args(trial)` gives a trial's TrainArgs."""
    fixed: dict = field(default_factory=dict)
    searched: dict = field(default_factory=dict)

    def args(self, trial) -> TrainArgs:
        """The TrainArgs of an Optuna trial: the fixed values and a suggestion for each searched one."""
        return TrainArgs(**self.fixed, **{name: s.suggest(trial) for name, s in self.searched.items()})

    def with_fixed(self, where: str = 'command line',   # who fixes them, for an error
                   **given) -> 'SearchSpace':                # training arguments (None: not given)
        """This space with more fixed values (e.g. the command line's --folds-used); HMSDataError for a searched one."""
        given = {k: v for k, v in given.items() if v is not None}
        both = sorted(set(given) & set(self.searched))
        if both: raise HMSDataError(where, f'{both} fixed here but searched in the space: fix them in one place')
        return SearchSpace(_checked_fixed(where, {**self.fixed, **given}), self.searched)

    def variants(self) -> list[TrainArgs]:
        """Every combination of the searched arguments' candidates (choices, range ends) with the fixed values, checked."""
        names = list(self.searched)
        combos = itertools.product(*(self.searched[n].candidates for n in names))
        return list(dict.fromkeys(TrainArgs(**self.fixed, **dict(zip(names, c))) for c in combos))

    def record(self) -> dict:
        """The space as JSON-able values (a study keeps it: the same study resumes only with the same space)."""
        return {'fixed': {k: list(v) if isinstance(v, tuple) else v for k, v in self.fixed.items()},
                'search': {n: s.record() for n, s in self.searched.items()}}


def _known(where: str, section: str, name: str):
    """HMSDataError unless `name` is a training argument."""
    if name not in _FIELDS: raise HMSDataError(where, f'[{section}] {name!r} is not a training argument; known: {", ".join(_FIELDS)}')


def _checked(where: str, section: str, name: str, value):
    """`value` held to the schema's rule for `name` (HMSDataError naming the file, the section and the argument)."""
    try: return check_arg(name, value)
    except HMSDataError as e: raise HMSDataError(where, f'[{section}] {e.where}: {e.what}') from None


def _checked_fixed(where: str, fixed: dict) -> dict:
    """Fixed values, each checked, and together (e.g. folds_used below folds)."""
    for name in fixed: _known(where, 'fixed', name)
    fixed = {name: _checked(where, 'fixed', name, value) for name, value in fixed.items()}
    try: TrainArgs(**fixed)
    except HMSDataError as e: raise HMSDataError(where, f'[fixed] {e.where}: {e.what}') from None
    return fixed


def _range(where: str, name: str, rule: dict) -> Searched:
    """A searched range, checked: numeric argument, low below high, both within the schema's rule, log above 0."""
    number = _numeric(name)
    if number is None: raise HMSDataError(where, f'[search] {name}: not a number, so it takes a list of choices, not a range')
    unknown = sorted(set(rule) - set(_RANGE_KEYS))
    if unknown: raise HMSDataError(where, f'[search] {name}: unknown key(s) {unknown}; a range has {list(_RANGE_KEYS)}')
    if 'low' not in rule or 'high' not in rule: raise HMSDataError(where, f'[search] {name}: a range needs both low and high')
    low, high = (_checked(where, 'search', name, rule[k]) for k in ('low', 'high'))
    if not low < high: raise HMSDataError(where, f'[search] {name}: low {low:g} must be below high {high:g}')
    log, step = rule.get('log', False), rule.get('step')
    if not isinstance(log, bool): raise HMSDataError(where, f'[search] {name}: log must be true or false, got {log!r}')
    if log and low <= 0: raise HMSDataError(where, f'[search] {name}: a log range needs low above 0, got {low:g}')
    if step is not None:
        if log: raise HMSDataError(where, f'[search] {name}: a range takes log or step, not both')
        if isinstance(step, bool) or not isinstance(step, number if number is int else (int, float)) or not step > 0:
            raise HMSDataError(where, f'[search] {name}: step must be a positive {number.__name__}, got {step!r}')
    return Searched(name, low, high, log, step)


def _choices(where: str, name: str, values: list) -> Searched:
    """Searched choices, checked: at least two, distinct, each a value the argument takes."""
    if len(values) < 2: raise HMSDataError(where, f'[search] {name}: give at least two choices (one value goes in [fixed])')
    odd = [v for v in values if not isinstance(v, _CHOICE_TYPES)]
    if odd: raise HMSDataError(where, f'[search] {name}: choices must be text, numbers or booleans, got {odd[0]!r}')
    if len(set(map(repr, values))) != len(values): raise HMSDataError(where, f'[search] {name}: repeated choices in {values}')
    for v in values: _checked(where, 'search', name, v)
    return Searched(name, choices=tuple(values))


def read_space(path) -> SearchSpace:
    """The search space of a TOML file ([fixed] and [search]); HMSDataError naming the file and what is wrong in it."""
    where = str(path)
    tables = read_toml(Path(path))
    unknown = sorted(set(tables) - {'fixed', 'search'})
    if unknown: raise HMSDataError(where, f'unknown table(s) {unknown}: a search space has [fixed] and [search]')
    fixed, search = tables.get('fixed', {}), tables.get('search', {})
    if not isinstance(fixed, dict) or not isinstance(search, dict): raise HMSDataError(where, '[fixed] and [search] must be tables')
    if not search: raise HMSDataError(where, '[search] names no argument: nothing to tune')
    searched = {}
    for name, rule in search.items():
        _known(where, 'search', name)
        if name in SAME_FOLDS: raise HMSDataError(where, f'[search] {name}: every trial is scored on the same folds; fix it instead')
        if name in fixed: raise HMSDataError(where, f'{name} is both fixed and searched')
        if isinstance(rule, dict): searched[name] = _range(where, name, rule)
        elif isinstance(rule, list): searched[name] = _choices(where, name, rule)
        else: raise HMSDataError(where, f'[search] {name}: give a range {{low = …, high = …}} or a list of choices, got {rule!r}')
    space = SearchSpace(_checked_fixed(where, fixed), searched)
    try: space.variants()                                     # every combination of the bounds: e.g. folds_used vs folds
    except HMSDataError as e: raise HMSDataError(where, f'[search] {e.where}: {e.what}') from None
    return space
