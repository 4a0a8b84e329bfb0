"""Experiment configs as TOML files (`experiments --config FILE.toml`): one table per named config, in the registry's form.

A table holds its config's `type` (default 'train') and the fields that differ from that type's defaults, e.g.

    [resnet18d_centre]
    arch = "resnet18d"
    windows = "centre"

    [six]
    type = "ensemble"
    [[six.members]]
    channels = "spec"
    [[six.members]]
    seed_offset = 1

`configs_toml(CONFIGS)` writes the built-in registry in this form; `read_configs` reads it back equal.
"""
import types
import typing
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path

from ..core.errors import HMSDataError
from ..core.tomlfile import read_toml, toml_text
from ..core.train_args import TrainArgs
from .configs import BlendConfig, EnsembleConfig, ExperimentConfig, NaiveConfig, PseudoConfig, TabularConfig, TrainConfig

__all__ = ['CONFIG_TYPES', 'configs_toml', 'read_configs']

CONFIG_TYPES = {'train': TrainConfig, 'ensemble': EnsembleConfig, 'blend': BlendConfig, 'pseudo': PseudoConfig,
                'tabular': TabularConfig, 'naive': NaiveConfig}   # a table's `type` → its config class
_TYPE_NAMES = {cls: name for name, cls in CONFIG_TYPES.items()}


def _default(f):
    """A dataclass field's default value."""
    return f.default_factory() if f.default is MISSING else f.default


def _table(cfg: ExperimentConfig, name: str, typed: bool = True) -> dict:
    """A config's table: its type (when `typed`) and the fields that differ from its class's defaults, as TOML values."""
    table = {'type': _TYPE_NAMES[type(cfg)]} if typed else {}
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        if v == _default(f): continue
        if v is None: raise ValueError(f'{name}.{f.name}: None (its default is {_default(f)!r}) has no TOML form')
        if isinstance(v, tuple) and v and is_dataclass(v[0]): v = [_table(m, f'{name}.{f.name}', typed=False) for m in v]
        table[f.name] = str(v) if isinstance(v, Path) else v
    return table


def configs_toml(configs: dict) -> str:
    """The TOML text of named configs (e.g. the registry CONFIGS), each a table of its type and non-default fields."""
    return toml_text({name: _table(cfg, name) for name, cfg in configs.items()})


def _admits(t) -> tuple:
    """The types an annotation admits (its union's members)."""
    return typing.get_args(t) if isinstance(t, types.UnionType) or typing.get_origin(t) is typing.Union else (t,)


def _is(v, t) -> bool:
    """Whether TOML value `v` is of plain type `t` (an integer counts as a float; a boolean only as a boolean)."""
    if t is float: return isinstance(v, (int, float)) and not isinstance(v, bool)
    return isinstance(v, t) and (t is bool or not isinstance(v, bool))


def _field_value(where: str, f, v):
    """A TOML value as field `f` takes it (lists as tuples, member tables as configs); HMSDataError when it is of no admitted type."""
    for t in _admits(f.type):
        if typing.get_origin(t) is tuple and isinstance(v, list):
            item = typing.get_args(t)[0]
            if is_dataclass(item) and all(isinstance(m, dict) for m in v):
                return tuple(_config(f'{where} {f.name}[{i}]', m, item) for i, m in enumerate(v))
            if all(_is(x, item) for x in v): return tuple(v)
        elif t is not type(None) and _is(v, t): return float(v) if t is float else v
    raise HMSDataError(where, f'{f.name}: expected {f.type}, got {v!r}')


def _config(where: str, table, cls=None) -> ExperimentConfig:
    """One config from its TOML table (its `type` names the class unless `cls` is given), every field checked."""
    if not isinstance(table, dict): raise HMSDataError(where, f'must be a table of config fields, got {table!r}')
    table = dict(table)
    if cls is None:
        name = table.pop('type', 'train')
        if name not in CONFIG_TYPES: raise HMSDataError(where, f'type {name!r} is not one of {list(CONFIG_TYPES)}')
        cls = CONFIG_TYPES[name]
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(table) - set(known))
    if unknown: raise HMSDataError(where, f'unknown field(s) {unknown} of a {_TYPE_NAMES.get(cls, "member")} config; '
                                          f'known: {sorted(known)}')
    schema = TrainArgs.__dataclass_fields__ if issubclass(cls, TrainArgs) else {}   # TrainArgs checks these itself
    values = {k: v if k in schema else _field_value(where, known[k], v) for k, v in table.items()}
    try: return cls(**values)
    except HMSDataError as e: raise HMSDataError(where, f'{e.where}: {e.what}') from None


def read_configs(path) -> dict:
    """Named configs from a TOML file (one table each); HMSDataError naming the file, the config and the field at fault."""
    tables = read_toml(path)
    if not tables: raise HMSDataError(path, 'defines no config (one [name] table per config)')
    return {name: _config(f'{path} [{name}]', table) for name, table in tables.items()}
