"""A training run's folder is a unit: its manifest (models.json) names the run, its folds and their files with hashes.

The manifest (the run's identity, no fold done) is written before any other file of the run, and each fold is recorded
only once its files are whole, so whatever a kill leaves is resumed by the same command (finished folds kept untouched);
a folder of another run is refused; `predict` reads the manifest instead of globbing, so a stale or foreign file is never
ensembled (it is named in a warning). A manifest names only files of its own folder.
"""
import json
import warnings
from pathlib import Path

from ..core.atomic import atomic_path, file_hash, sweep_temp
from ..core.errors import HMSDataError
from ..core.version import __version__, git_revision

__all__ = ['MANIFEST', 'LOGS', 'own_file', 'read_manifest', 'RunFolder', 'run_exports']

MANIFEST = 'models.json'
LOGS = 'tensorboard'             # a run folder's live logs (--log tensorboard), not files of the run
_FORMAT = 1


def own_file(folder, name,     # a file name as a manifest or an export spec gives it
             where,             # the file that names it (for the error)
             entry: str) -> Path:   # which of its entries names it (for the error)
    """`folder / name` when `name` is a file of `folder` itself: no folders, no `..`, not absolute, no link leaving it."""
    folder = Path(folder)
    if not isinstance(name, str) or name in ('', '.', '..') or Path(name).name != name:
        raise HMSDataError(where, f'{entry} names {name!r}, not a file of its own folder (no paths, no ..)')
    path = folder / name
    if path.resolve().parent != folder.resolve():
        raise HMSDataError(where, f'{entry} names {name!r}, a link to {path.resolve()} outside its own folder')
    return path


def _check(path: Path, m) -> dict:
    """A parsed manifest checked field by field (HMSDataError naming the file and the field)."""
    if not isinstance(m, dict) or m.get('format') != _FORMAT or not {'run', 'folds', 'done', 'complete'} <= set(m):
        raise HMSDataError(path, f'not an hms_fastai run manifest (format {_FORMAT})')
    folds = m['folds']
    if not isinstance(folds, list) or not all(type(k) is int and k >= 0 for k in folds) or len(set(folds)) != len(folds):
        raise HMSDataError(path, f"'folds' must be a list of distinct fold numbers, got {folds!r}")
    if not isinstance(m['run'], dict): raise HMSDataError(path, f"'run' must be a map of the run's arguments, got {m['run']!r}")
    if not isinstance(m['complete'], bool): raise HMSDataError(path, f"'complete' must be true or false, got {m['complete']!r}")
    if not isinstance(m['done'], dict): raise HMSDataError(path, f"'done' must map folds to their files, got {m['done']!r}")
    unknown = [k for k in m['done'] if k not in {str(f) for f in folds}]
    if unknown: raise HMSDataError(path, f"'done' has fold(s) {unknown} that 'folds' does not list")
    named = {f"'done' fold {k}": files for k, files in m['done'].items()} | ({"'files'": m['files']} if 'files' in m else {})
    for entry, files in named.items():
        if not isinstance(files, dict) or not all(isinstance(h, str) for h in files.values()):
            raise HMSDataError(path, f'{entry} must map file names to sha256 hashes, got {files!r}')
        for name in files: own_file(path.parent, name, path, entry)
    return m


def read_manifest(folder) -> dict | None:
    """The folder's manifest, checked (None when it has none; HMSDataError if it is unreadable or names other files)."""
    path = Path(folder) / MANIFEST
    if not path.is_file(): return None
    try: m = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HMSDataError(path, f'not a readable run manifest ({type(e).__name__}: {e})') from None
    return _check(path, m)


def _intact(folder: Path, files: dict) -> bool:
    """Whether every file of `files` (name → sha256) is in `folder` with those bytes."""
    return all((folder / n).is_file() and file_hash(folder / n) == h for n, h in files.items())


class RunFolder:
    """The output folder of one training run: which folds are done, recorded one by one; complete when `finish`ed."""

    def __init__(self, folder: Path, manifest: dict):
        self.folder, self.manifest = folder, manifest

    @classmethod
    def open(cls, folder, run: dict, folds: list) -> 'RunFolder':
        """`folder` checked for `run` (JSON-able): new, or the same run to resume; HMSDataError for another run's (no writing)."""
        folder = Path(folder)
        if folder.exists() and not folder.is_dir(): raise HMSDataError(folder, 'is a file, not a folder for the run')
        sweep_temp(folder)                                   # what killed writers left
        run = json.loads(json.dumps(run, default=str))
        m = read_manifest(folder)
        if m is None:
            others = sorted(p.name for p in folder.iterdir() if not p.name.startswith('.')) if folder.is_dir() else []
            if others: raise HMSDataError(folder, f'holds files of another run ({", ".join(others[:3])}…, no {MANIFEST}): '
                                                  f'use another folder or empty it')
            m = {'format': _FORMAT, 'package': __version__, 'git': git_revision(), 'run': run, 'folds': list(folds), 'done': {},
                 'complete': False}
        elif m['run'] != run or m['folds'] != list(folds):
            changed = sorted(k for k in {*run, *m['run']} if run.get(k) != m['run'].get(k)) or ['folds']
            raise HMSDataError(folder, f'holds another run (it differs in {", ".join(changed)}): use another folder or delete it')
        m['done'] = {k: files for k, files in m['done'].items() if _intact(folder, files)}   # a damaged fold trains again
        return cls(folder, m)

    def start(self) -> 'RunFolder':
        """Create the folder and write the manifest (the run's identity) if it has none: before any other file of the run."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if not (self.folder / MANIFEST).is_file(): self._write()
        return self

    @property
    def done(self) -> set:
        """The folds finished with their files intact."""
        return {int(k) for k in self.manifest['done']}

    def _write(self):
        with atomic_path(self.folder / MANIFEST) as tmp: tmp.write_text(json.dumps(self.manifest, indent=1))

    def record(self, fold: int, files: list[Path], seconds: float | None = None):
        """Mark `fold` done with its files (hashed), once they are all written, and the seconds its training took."""
        self.manifest['done'][str(fold)] = {Path(f).name: file_hash(f) for f in files}
        if seconds is not None: self.manifest.setdefault('seconds', {})[str(fold)] = round(seconds, 1)
        self._write()

    def finish(self, files: list[Path], **facts):
        """Mark the run complete with its run-level files (e.g. oof.csv), written last, and `facts` (e.g. params)."""
        self.manifest.update(complete=True, files={Path(f).name: file_hash(f) for f in files}, **facts)
        self._write()


def run_exports(folder, trust_pickle: bool = False) -> list[Path]:
    """The exports of a complete run folder, fold by fold (.json weights-only forms, or .pkl with `trust_pickle`), checked."""
    folder = Path(folder)
    m = read_manifest(folder)
    if m is None: raise HMSDataError(folder, f'no {MANIFEST}: not the folder of a finished `hms-fastai train` run')
    path = folder / MANIFEST
    if not m['complete']: raise HMSDataError(path, f"the run is not finished (folds done: {sorted(map(int, m['done']))})")
    listed = {n for files in m['done'].values() for n in files} | set(m.get('files', {})) | {MANIFEST, LOGS}
    stray = sorted(p.name for p in folder.iterdir() if not p.name.startswith('.') and p.name not in listed)
    if stray: warnings.warn(f'{folder}: ignoring {len(stray)} file(s) not in {MANIFEST}: {", ".join(stray[:5])}')
    paths = []
    for k in m['folds']:
        if str(k) not in m['done']: raise HMSDataError(path, f"'folds' lists fold {k}, but 'done' has no files of it")
        files = m['done'][str(k)]
        if not _intact(folder, files): raise HMSDataError(folder, f'the files of fold {k} are missing or altered since training')
        json_ = [n for n in files if n.endswith('.json')]
        pkl = [n for n in files if n.endswith('.pkl')]
        if not json_ + pkl: raise HMSDataError(path, f"'done' fold {k} has no export (.json or .pkl) among {sorted(files)}")
        if not json_ and not trust_pickle:
            raise HMSDataError(folder / pkl[0], 'only a pickle was exported: loading it runs code; pass trust_pickle=True '
                                                '(--trust-pickle) if you trust it')
        paths.append(folder / (json_ or pkl)[0] if not trust_pickle else folder / (pkl or json_)[0])
    return paths
