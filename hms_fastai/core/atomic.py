"""Atomic file writes (a temp file beside the target, renamed over it only on success), stale temp sweeping, folder locks."""
import fcntl
import hashlib
import os
import re
from contextlib import contextmanager
from pathlib import Path

__all__ = ['atomic_path', 'sweep_temp', 'folder_lock', 'file_hash', 'process_alive']

_TEMP = re.compile(r'^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp')      # what atomic_path names its temp files
_UMASK = os.umask(0o022); os.umask(_UMASK)                           # the process's umask, read once at import


@contextmanager
def atomic_path(path, suffix: str = ''):
    """Yield a temp path beside `path`; rename it to `path` if the block succeeds, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_temp(path.parent, path.name)                   # what a killed writer of this file left behind
    tmp = path.with_name(f'.{path.name}.{os.getpid()}.tmp{suffix}')
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)                   # the mode open() gives (some writers, e.g. safetensors, make 0600)
        os.replace(tmp, path)
    finally:
        if tmp.exists(): tmp.unlink()


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs (on this machine)."""
    try: os.kill(pid, 0)
    except ProcessLookupError: return False
    except PermissionError: return True
    return True


def sweep_temp(folder, name: str | None = None) -> list[Path]:
    """Delete the temp files killed writers left in `folder` (of file `name`, or any); return what was deleted."""
    folder, gone = Path(folder), []
    if not folder.is_dir() or not os.access(folder, os.W_OK): return gone
    for f in folder.glob(f'.{name}.*.tmp*' if name else '.*.tmp*'):
        m = _TEMP.match(f.name)
        if m and (name is None or m['name'] == name) and int(m['pid']) != os.getpid() and not process_alive(int(m['pid'])):
            f.unlink(missing_ok=True)
            gone.append(f)
    return gone


@contextmanager
def folder_lock(folder):
    """Hold an exclusive lock on `folder` (its .lock file) for the block: concurrent writers take turns."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / '.lock', 'a') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try: yield
        finally: fcntl.flock(f, fcntl.LOCK_UN)


def file_hash(path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''): h.update(block)
    return h.hexdigest()
