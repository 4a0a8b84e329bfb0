"""A training run's folder is a unit: its manifest (models.json) names the run, its folds and their files with hashes.

The same run started again resumes (finished folds are kept untouched); a folder of another run is refused; `predict`
reads the manifest instead of globbing, so a stale or foreign file is never ensembled (it is named in a warning).
"""
import json
import warnings
from pathlib import Path

from ..core.atomic import atomic_path, file_hash, sweep_temp
from ..core.errors import HMSDataError
from ..core.version import __version__, git_revision

__all__ = ['MANIFEST', 'LOGS', 'RunFolder', 'run_exports', 'read_manifest']

MANIFEST = 'models.json'
LOGS = 'tensorboard'             # a run folder's live logs (--log tensorboard), not files of the run
_FORMAT = 1


def _read(folder: Path) -> dict | None:
    """The folder's manifest, or None when it has none (HMSDataError if it is unreadable)."""
    path = folder / MANIFEST
    if not path.is_file(): return None
    try: m = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HMSDataError(path, f'not a readable run manifest ({type(e).__name__}: {e})') from None
    if not isinstance(m, dict) or m.get('format') != _FORMAT or not {'run', 'folds', 'done', 'complete'} <= set(m):
        raise HMSDataError(path, f'not an hms_fastai run manifest (format {_FORMAT})')
    return m


def _intact(folder: Path, files: dict) -> bool:
    """Whether every file of `files` (name → sha256) is in `folder` with those bytes."""
    return all((folder / n).is_file() and file_hash(folder / n) == h for n, h in files.items())


class RunFolder:
    """The output folder of one training run: which folds are done, recorded one by one; complete when `finish`ed."""

    def __init__(self, folder: Path, manifest: dict):
        self.folder, self.manifest = folder, manifest

    @classmethod
    def begin(cls, folder, run: dict, folds: list) -> 'RunFolder':
        """Open `folder` for `run` (JSON-able): new, or the same run resumed; HMSDataError for another run's folder."""
        folder = Path(folder)
        if folder.exists() and not folder.is_dir(): raise HMSDataError(folder, 'is a file, not a folder for the run')
        folder.mkdir(parents=True, exist_ok=True)
        sweep_temp(folder)
        run = json.loads(json.dumps(run, default=str))
        m = _read(folder)
        if m is None:
            others = sorted(p.name for p in folder.iterdir() if not p.name.startswith('.'))
            if others: raise HMSDataError(folder, f'holds files of another run ({", ".join(others[:3])}…, no {MANIFEST}): '
                                                  f'use another folder or empty it')
            m = {'format': _FORMAT, 'package': __version__, 'git': git_revision(), 'run': run, 'folds': list(folds), 'done': {},
                 'complete': False}
        elif m['run'] != run or m['folds'] != list(folds):
            changed = sorted(k for k in {*run, *m['run']} if run.get(k) != m['run'].get(k)) or ['folds']
            raise HMSDataError(folder, f'holds another run (it differs in {", ".join(changed)}): use another folder or delete it')
        m['done'] = {k: files for k, files in m['done'].items() if _intact(folder, files)}   # a damaged fold trains again
        return cls(folder, m)

    @property
    def done(self) -> set:
        """The folds finished with their files intact."""
        return {int(k) for k in self.manifest['done']}

    def _write(self):
        with atomic_path(self.folder / MANIFEST) as tmp: tmp.write_text(json.dumps(self.manifest, indent=1))

    def record(self, fold: int, files: list[Path], seconds: float | None = None):
        """Mark `fold` done with its files (hashed) and the seconds its training took."""
        self.manifest['done'][str(fold)] = {Path(f).name: file_hash(f) for f in files}
        if seconds is not None: self.manifest.setdefault('seconds', {})[str(fold)] = round(seconds, 1)
        self._write()

    def finish(self, files: list[Path], **facts):
        """Mark the run complete with its run-level files (e.g. oof.csv), written last, and `facts` (e.g. params)."""
        self.manifest.update(complete=True, files={Path(f).name: file_hash(f) for f in files}, **facts)
        self._write()


def run_exports(folder, trust_pickle: bool = False) -> list[Path]:
    """The exports of a complete run folder (.json weights-only forms, or .pkl with `trust_pickle` where none), checked."""
    folder = Path(folder)
    m = _read(folder)
    if m is None: raise HMSDataError(folder, f'no {MANIFEST}: not the folder of a finished `hms-fastai train` run')
    if not m['complete']: raise HMSDataError(folder / MANIFEST, f"the run is not finished (folds done: {sorted(map(int, m['done']))})")
    listed = {n for files in m['done'].values() for n in files} | set(m.get('files', {})) | {MANIFEST, LOGS}
    stray = sorted(p.name for p in folder.iterdir() if not p.name.startswith('.') and p.name not in listed)
    if stray: warnings.warn(f'{folder}: ignoring {len(stray)} file(s) not in {MANIFEST}: {", ".join(stray[:5])}')
    paths = []
    for k in m['folds']:
        files = m['done'].get(str(k), {})
        if not _intact(folder, files): raise HMSDataError(folder, f'the files of fold {k} are missing or altered since training')
        json_ = [n for n in files if n.endswith('.json')]
        pkl = [n for n in files if n.endswith('.pkl')]
        if not json_ and not trust_pickle:
            raise HMSDataError(folder / pkl[0], 'only a pickle was exported: loading it runs code; pass trust_pickle=True '
                                                '(--trust-pickle) if you trust it')
        paths.append(folder / (json_ or pkl)[0] if not trust_pickle else folder / (pkl or json_)[0])
    return paths


def read_manifest(folder) -> dict | None:
    """A run folder's manifest (None when it has none; HMSDataError when it is not an hms_fastai run manifest)."""
    return _read(Path(folder))
