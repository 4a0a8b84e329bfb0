"""Atomic file writes: a temp file beside the target, renamed over it only on success."""
import os
from contextlib import contextmanager
from pathlib import Path

__all__ = ['atomic_path']


@contextmanager
def atomic_path(path, suffix: str = ''):
    """Yield a temp path beside `path`; rename it to `path` if the block succeeds, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.name}.{os.getpid()}.tmp{suffix}')
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists(): tmp.unlink()
