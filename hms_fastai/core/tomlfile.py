"""TOML files (configs, search spaces): read with the standard library's tomllib, written as plain tables."""
import json
import math
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11): import tomllib
else: import tomli as tomllib

from .errors import HMSDataError

__all__ = ['read_toml', 'toml_text']

_BARE = re.compile(r'^[A-Za-z0-9_-]+$')       # a key TOML takes unquoted


def read_toml(path) -> dict:
    """The tables of a TOML file; HMSDataError naming the file when it is missing, unreadable or not TOML."""
    path = Path(path)
    try: return tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e: raise HMSDataError(path, f'cannot be read ({type(e).__name__}: {e.strerror or e})') from None
    except tomllib.TOMLDecodeError as e: raise HMSDataError(path, f'not TOML: {e}') from None


def _key(k: str) -> str:
    """A key as TOML writes it: bare when it can be, else quoted."""
    return k if _BARE.match(k) else json.dumps(k, ensure_ascii=False)


def _value(v) -> str:
    """A value as TOML writes it: text, a boolean, a number or a list of them."""
    if isinstance(v, str): return json.dumps(v, ensure_ascii=False)           # JSON's escapes are TOML's
    if isinstance(v, bool): return 'true' if v else 'false'
    if isinstance(v, int): return str(v)
    if isinstance(v, float): return repr(v) if math.isfinite(v) else ('nan' if v != v else ('inf' if v > 0 else '-inf'))
    if isinstance(v, (list, tuple)): return '[' + ', '.join(map(_value, v)) + ']'
    raise TypeError(f'TOML has no form for {v!r}')


def toml_text(tables: dict) -> str:
    """TOML of {name: {key: value}}: values text, booleans, numbers, lists of them, or lists of tables ([[name.key]])."""
    lines = []
    for name, table in tables.items():
        nested = {k: v for k, v in table.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)}
        lines += [f'[{_key(name)}]', *(f'{_key(k)} = {_value(v)}' for k, v in table.items() if k not in nested)]
        for k, items in nested.items():
            for item in items: lines += [f'[[{_key(name)}.{_key(k)}]]', *(f'{_key(ik)} = {_value(iv)}' for ik, iv in item.items())]
        lines.append('')
    return '\n'.join(lines)
