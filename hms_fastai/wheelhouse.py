"""An offline wheelhouse for Kaggle: wheels of the package and of every dependency except torch and torchvision (which
Kaggle provides), at the versions installed here, so `pip install --no-index --find-links DIR hms_fastai` needs no network.

Run it where the target's Python and platform are (e.g. a Kaggle notebook with the internet on) and add DIR as a dataset.
"""
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .core.errors import HMSDataError

__all__ = ['PROVIDED', 'installed_closure', 'dependency_pins', 'build_wheelhouse']

PROVIDED = ('torch', 'torchvision')          # on Kaggle's image already; their own dependencies come with them


def installed_closure(roots, skip=()) -> list:
    """The installed distributions `roots` need, themselves included (markers and requested extras followed), bar `skip`."""
    todo, seen, dists, skip = [(r, ()) for r in roots], set(), {}, {canonicalize_name(s) for s in skip}
    while todo:
        name, extras = todo.pop()
        if canonicalize_name(name) in skip or (canonicalize_name(name), extras) in seen: continue
        seen.add((canonicalize_name(name), extras))
        try: dist = dists.setdefault(canonicalize_name(name), metadata.distribution(name))
        except metadata.PackageNotFoundError: raise HMSDataError(name, 'a dependency that is not installed here') from None
        for req in map(Requirement, dist.requires or []):
            if req.marker is None or any(req.marker.evaluate({'extra': e}) for e in ('', *extras)):
                todo.append((req.name, tuple(sorted(req.extras))))
    return list(dists.values())


def dependency_pins(root: str = 'hms_fastai') -> list[str]:
    """`name==version` of every installed distribution `root` needs (with the extras it asks for), bar PROVIDED's."""
    deps = [d for d in installed_closure([root], PROVIDED) if canonicalize_name(d.metadata['Name']) != canonicalize_name(root)]
    return sorted({f'{d.metadata["Name"]}=={d.version}' for d in deps}, key=str.lower)


def _pip(*args: str):
    """Run pip of this interpreter (HMSDataError with pip's last lines if it fails)."""
    r = subprocess.run([sys.executable, '-m', 'pip', *args], capture_output=True, text=True)
    if r.returncode: raise HMSDataError('pip', ' '.join(r.stderr.strip().splitlines()[-3:]) or f'exit code {r.returncode}')


def build_wheelhouse(out, source=None) -> list[Path]:
    """Write the package's wheel (built from its source checkout) and its dependencies' wheels into `out`; list them."""
    out = Path(out)
    source = Path(source) if source else Path(__file__).resolve().parents[1]
    if not (source / 'pyproject.toml').is_file(): raise HMSDataError(source, 'no pyproject.toml: pass the package\'s source checkout')
    out.mkdir(parents=True, exist_ok=True)
    _pip('wheel', '--no-deps', '-q', '-w', str(out), str(source))   # built in isolation: any setuptools here will do
    _pip('download', '--no-deps', '--only-binary', ':all:', '-q', '-d', str(out), *dependency_pins())
    return sorted(out.glob('*.whl'))
