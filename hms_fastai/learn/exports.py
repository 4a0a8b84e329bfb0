"""Exported learners: fastai's pickle, and a weights-only form (safetensors + a JSON spec) that loads without unpickling."""
import json
import warnings
from pathlib import Path

import pandas as pd
import torch
from fastai.data.core import DataLoaders, Datasets
from fastai.learner import Learner, load_learner
from fastai.torch_core import default_device
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..core.atomic import atomic_path, file_hash
from ..core.constants import TARGETS
from ..core.errors import HMSDataError
from ..core.version import __version__
from ..core.train_args import TrainArgs
from .data import HMSDataLoader, StoreInput, dl_channels
from .device import apply_precision, check_cuda
from .kinds import get_kind, kind_names
from .learner import HMSLearner, readable_progress
from .metrics import KLDivLossFlat
from .runs import own_file, run_exports

__all__ = ['SPEC_FORMAT', 'export_learner', 'read_spec', 'load_exported', 'load_learners']

SPEC_FORMAT = 1                  # bump when the JSON spec changes meaning


def export_learner(learn: Learner, path) -> Path:
    """`learn.export` to `path` (.pkl) and, for an hms_learner, the weights-only .safetensors + .json (the path returned)."""
    path = Path(path).with_suffix('.pkl')
    with atomic_path(path) as tmp: learn.export(tmp)
    spec = getattr(learn, 'hms_spec', None)
    if spec is None: return path                         # e.g. the naive control: its pickle only
    weights = path.with_suffix('.safetensors')
    with atomic_path(weights, '.safetensors') as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in learn.model.state_dict().items()}, str(tmp))
    spec = {'format': SPEC_FORMAT, 'package': __version__, **spec, 'channels': dl_channels(learn.dls),
            'weights': weights.name, 'sha256': file_hash(weights)}
    with atomic_path(path.with_suffix('.json'), '.json') as tmp: tmp.write_text(json.dumps(spec, indent=1))
    return path.with_suffix('.json')


def _field(path: Path, ok: bool, field: str, what: str):
    """HMSDataError naming the spec file and its `field` unless `ok`."""
    if not ok: raise HMSDataError(path, f'{field!r} {what}')


def read_spec(path) -> dict:
    """A weights-only export's spec, every field checked before anything is built from it (HMSDataError naming the field)."""
    path = Path(path)
    try: spec = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HMSDataError(path, f'not a readable export spec ({type(e).__name__}: {e})') from None
    need = ['format', 'kind', 'arch', 'n_in', 'n_out', 'head', 'channels', 'weights', 'sha256']
    if not isinstance(spec, dict) or [k for k in need if k not in spec]:
        raise HMSDataError(path, f'not an hms_fastai export spec: needs {need}')
    if spec['format'] != SPEC_FORMAT: raise HMSDataError(path, f"export format {spec['format']} is not the current {SPEC_FORMAT}")
    _field(path, spec['kind'] in kind_names(), 'kind', f"is {spec['kind']!r}, not a known kind of learner {kind_names()}")
    kind, arch, head, channels, n_in, n_out = get_kind(spec['kind']), *(spec[k] for k in ('arch', 'head', 'channels', 'n_in', 'n_out'))
    own_file(path.parent, spec['weights'], path, "'weights'")
    _field(path, isinstance(spec['sha256'], str), 'sha256', f"must be the weights' sha256 (text), got {spec['sha256']!r}")
    _field(path, isinstance(channels, list) and all(isinstance(c, str) for c in channels), 'channels', f'must be names, got {channels!r}')
    try: kind.input_channels(channels)
    except HMSDataError as e: raise HMSDataError(path, f"'channels': {e.what}") from None
    _field(path, type(n_in) is int and n_in == len(channels), 'n_in', f'is {n_in!r}, not its {len(channels)} channels')
    _field(path, type(n_out) is int and n_out == len(TARGETS), 'n_out', f'is {n_out!r}, not the {len(TARGETS)} classes')
    _field(path, isinstance(head, dict), 'head', f'must map head arguments to values, got {head!r}')
    other = sorted(set(head) - set(kind.head_args))
    _field(path, not other, 'head', f'has {other}, which the {kind.name} kind does not take (it takes {list(kind.head_args)})')
    _field(path, isinstance(arch, str), 'arch', f"must be a body's name, got {arch!r}")
    try:
        with torch.device('meta'): kind.model(arch, n_in, n_out, **head)      # a dry build: no memory, no weights
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else ''
        raise HMSDataError(path, f"'arch' {arch!r} (head {head}) builds no {kind.name!r} model ({type(e).__name__}: {first})") from None
    return spec


def _weights(path: Path, spec: dict) -> dict:
    """The spec's tensors, read without running any code (HMSDataError if missing, altered or truncated)."""
    weights = own_file(path.parent, spec['weights'], path, "'weights'")
    if not weights.is_file(): raise HMSDataError(weights, f'the weights of {path.name} are missing')
    if file_hash(weights) != spec['sha256']: raise HMSDataError(weights, f'its bytes do not match {path.name} (altered or truncated)')
    try: return load_file(str(weights))
    except (SafetensorError, OSError) as e: raise HMSDataError(weights, f'not a readable safetensors file ({e})') from None


def _inference_dls(channels: list[str], kind: str, device) -> DataLoaders:
    """Empty DataLoaders that carry what inference needs of them: the input kind and channels, batch size, device."""
    none = pd.DataFrame({'eeg_id': pd.Series([], dtype='int64')})
    dls = [HMSDataLoader(Datasets(none, [[StoreInput(kind=kind, channels=channels)]], split_idx=i, do_setup=False), bs=64,
                         num_workers=0, after_batch=[get_kind(kind).assembly()], do_setup=False) for i in (0, 1)]
    return DataLoaders(*dls, device=device)


def load_exported(path, trust_pickle: bool = False,  # a .pkl loads only when trusted (unpickling runs its code)
                  cpu: bool | None = None,            # None: the GPU when there is one
                  precision: str = TrainArgs.precision) -> Learner:
    """One exported learner: a weights-only .json (safe); a .pkl only with `trust_pickle` (unpickling runs its code)."""
    path, cpu = Path(path), (not torch.cuda.is_available()) if cpu is None else cpu
    if path.suffix == '.pkl':
        if not trust_pickle:
            raise HMSDataError(path, f'a pickle runs code when loaded: load {path.with_suffix(".json").name} (weights only), '
                                     f'or trust it (trust_pickle=True, --trust-pickle)')
        if not path.is_file(): raise HMSDataError(path, 'exported learner not found')
        with warnings.catch_warnings():              # the user has said they trust it: fastai's warning says nothing new
            warnings.filterwarnings('ignore', message='load_learner` uses Python')
            try: return load_learner(path, cpu=cpu)
            except Exception as e: raise HMSDataError(path, f'not a loadable fastai export ({type(e).__name__}: {e})') from None
    if not path.is_file(): raise HMSDataError(path, 'exported learner not found')
    spec = read_spec(path)
    kind = get_kind(spec['kind'])
    model = kind.model(spec['arch'], spec['n_in'], spec['n_out'], **spec['head'])
    try: model.load_state_dict(_weights(path, spec))
    except RuntimeError as e:
        raise HMSDataError(path, f'its tensors do not fit {spec["arch"]} with n_in={spec["n_in"]}: {str(e).splitlines()[0]}') from None
    device = check_cuda(torch.device('cpu') if cpu else default_device())
    dls = _inference_dls(spec['channels'], spec['kind'], device)
    learn = HMSLearner(dls, model.to(device).eval(), loss_func=KLDivLossFlat(), metrics=[])
    learn.hms_spec = {k: spec[k] for k in ('kind', 'arch', 'n_in', 'n_out', 'head')}
    apply_precision(learn, precision, device, kind.spatial)
    return readable_progress(learn)


def load_learners(models, trust_pickle: bool = False, precision: str = TrainArgs.precision) -> list[Learner]:
    """Learners from export paths (.json, or .pkl with `trust_pickle`), a finished training folder, or Learner objects."""
    if isinstance(models, (str, Path)) and Path(models).is_dir(): models = run_exports(models, trust_pickle)
    elif isinstance(models, (str, Path, Learner)): models = [models]
    return [m if isinstance(m, Learner) else load_exported(m, trust_pickle, precision=precision) for m in models]
