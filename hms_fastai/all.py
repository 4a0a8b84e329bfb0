"""Every public name at once, as `fastai.vision.all` does: `from hms_fastai.all import *`."""
import importlib as _importlib

from . import public_names as _public_names

__all__ = []
for _module, _names in _public_names().items():
    _mod = _importlib.import_module(f'hms_fastai.{_module}')
    globals().update({_n: getattr(_mod, _n) for _n in _names})
    __all__ += _names
