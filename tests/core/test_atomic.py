"""Atomic writes: the target appears whole or not at all, with the mode open() gives; killed writers' temp files swept."""
import os
import subprocess
import sys

import pytest

from hms_fastai.core.atomic import atomic_path, sweep_temp


def _umask() -> int:
    """This process's umask."""
    mask = os.umask(0o022); os.umask(mask)
    return mask


def test_success_renames_and_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / 'out.csv'
    target.write_text('good')
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('half')
            raise RuntimeError('writer died')
    assert target.read_text() == 'good' and sorted(p.name for p in tmp_path.iterdir()) == ['out.csv']
    with atomic_path(target) as tmp: tmp.write_text('new')
    assert target.read_text() == 'new' and sorted(p.name for p in tmp_path.iterdir()) == ['out.csv']


def test_the_final_file_has_the_mode_open_gives(tmp_path):
    with atomic_path(tmp_path / 'w.safetensors') as tmp:
        tmp.write_bytes(b'x'); os.chmod(tmp, 0o600)          # what safetensors' writer leaves
    (tmp_path / 'plain').write_bytes(b'x')
    assert (tmp_path / 'w.safetensors').stat().st_mode & 0o777 == 0o666 & ~_umask() == (tmp_path / 'plain').stat().st_mode & 0o777


def test_sweep_removes_only_dead_writers_temp_files(tmp_path):
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f'.out.csv.{dead_pid}.tmp'
    live = tmp_path / f'.out.csv.{os.getppid()}.tmp'                      # a running process: a concurrent writer
    other = tmp_path / f'.other.csv.{dead_pid}.tmp'
    for f in (stale, live, other): f.write_text('x')
    assert sweep_temp(tmp_path, 'out.csv') == [stale]
    assert live.exists() and other.exists()
    assert sweep_temp(tmp_path) == [other]
