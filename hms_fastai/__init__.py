"""hms_fastai: fastai experiments for the HMS Harmful Brain Activity Classification competition.

A light face: `import hms_fastai as h` loads nothing heavy; `h.name` imports the module that defines `name` on first use.
`from hms_fastai.all import *` imports everything at once. The layers, each importing only those above it in this list:
core → competition → signals → learn → experiments, with the faces (cli, demo, wheelhouse, all) on top.
"""
import ast
import importlib
import re
from functools import cache
from pathlib import Path

from .core.version import __version__ as __version__   # re-exported: h.__version__

LAYERS = ['core', 'competition', 'signals', 'learn', 'experiments']
_FACES = ('__init__', '__main__', 'all', 'cli')           # modules whose names are not re-exported here
_ALL = re.compile(r'^__all__ = (\[.*?\])', re.M | re.S)


@cache
def public_names() -> dict:
    """Module (dotted, below the package) → the public names it defines: its `__all__`, read from its source, not imported."""
    root = Path(__file__).parent
    table = {}
    for f in sorted(root.rglob('*.py')):
        parts = f.relative_to(root).with_suffix('').parts
        found = _ALL.search(f.read_text()) if parts[-1] not in _FACES else None
        if found: table['.'.join(parts)] = ast.literal_eval(found[1])
    return table


@cache
def _module_of() -> dict:
    """Public name → the module that defines it."""
    return {name: module for module, names in public_names().items() for name in names}


def __getattr__(name: str):
    """Import a public name's module on first use (a layer, e.g. `h.learn`, likewise) and keep the name here."""
    if name in LAYERS: return importlib.import_module(f'.{name}', __name__)
    if name == '__all__': return list(_module_of())
    if name not in _module_of(): raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    value = getattr(importlib.import_module(f'.{_module_of()[name]}', __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_module_of()})
