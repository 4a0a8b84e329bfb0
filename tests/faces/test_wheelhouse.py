"""The offline wheelhouse, built here and installed with no index into a fresh venv that has only torch (as Kaggle
does); then the offline Kaggle submission rehearsed in that venv: notebook 02 on read-only inputs, one working folder."""
import ast
import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from hms_fastai.cli import main
from hms_fastai.core.constants import TARGETS
from hms_fastai.learn.recipes import train_folds
from hms_fastai.wheelhouse import PROVIDED, dependency_pins, installed_closure

REPO = Path(__file__).resolve().parents[2]
TEST_PARTS = ('test.csv', 'sample_submission.csv', 'test_eegs', 'test_spectrograms')   # what a code competition mounts
MPL_CACHE = re.compile(r'elsewhere/mplconfigdir/fontlist-v[0-9.]+\.json')
TINY_RUN = dict(arch='test_efficientnet', epochs=1, epochs2=0, bs=8, flip=0, mask=0, seed=0)


def _clean_env(**extra) -> dict:
    """This process's environment without what points at this checkout or another package index, plus `extra`."""
    drop = ('PYTHONPATH', 'PIP_EXTRA_INDEX_URL', 'PIP_FIND_LINKS', 'PIP_INDEX_URL')
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


@pytest.fixture(scope='module')
def kaggle_venv(tmp_path_factory):
    """`hms-fastai wheelhouse` run here, then a fresh venv holding only torch and torchvision (linked from this one, as a
    Kaggle image has them) into which pip, with no index, installs hms_fastai from the read-only wheelhouse: (wheels, venv,
    what the command printed)."""
    root = tmp_path_factory.mktemp('kaggle')
    wheels, venv = root / 'wheels', root / 'venv'
    with contextlib.redirect_stdout(io.StringIO()) as said: assert main(['wheelhouse', '--out', str(wheels)]) == 0
    for p in [wheels, *wheels.iterdir()]: p.chmod(p.stat().st_mode & ~0o222)   # a Kaggle dataset is read-only
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True, capture_output=True)   # pip from ensurepip: offline
    site = next((venv / 'lib').glob('python3*/site-packages'))
    for dist in installed_closure(PROVIDED, {'pip', 'setuptools'}):   # torch, torchvision and what they need: linked
        for top in {Path(str(f)).parts[0] for f in dist.files or []} - {'..', 'bin'}:
            src = Path(dist.locate_file(top))
            if src.exists() and not (site / top).exists(): (site / top).symlink_to(src)
    env, inputs = _clean_env(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX='1'), listing(root, skip={'venv'})
    r = subprocess.run([str(venv / 'bin' / 'python'), '-m', 'pip', 'install', '-q', '--no-compile', '--no-cache-dir', '--no-index',
                        '--find-links', str(wheels), 'hms_fastai'], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert listing(root, skip={'venv'}) == inputs               # pip wrote nothing into the wheelhouse (root may write)
    return wheels, venv, said.getvalue()


def test_pins_leave_out_torch_and_torchvision():
    pins = {p.split('==')[0].lower() for p in dependency_pins()}
    assert not pins & set(PROVIDED) and {'fastai', 'timm', 'pandas', 'safetensors'} <= pins


@pytest.mark.slow
def test_install_from_the_wheelhouse_with_no_index(kaggle_venv, tmp_path):
    wheels, venv, said = kaggle_venv
    assert 'wheels' in said
    names = {w.name.split('-')[0].lower().replace('_', '-') for w in wheels.glob('*.whl')}
    assert 'hms-fastai' in names and 'torch' not in names
    sol = tmp_path / 'sol.csv'
    sol.write_text('eeg_id,seizure_vote,lpd_vote,gpd_vote,lrda_vote,grda_vote,other_vote\n1,1,0,0,0,0,0\n')
    r = subprocess.run([str(venv / 'bin' / 'hms-fastai'), 'score', '--solution', str(sol), '--submission', str(sol)],
                       capture_output=True, text=True, env=_clean_env(), cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == '0.000000', r.stderr[-2000:]
    code = 'import hms_fastai.all, hms_fastai, torch; print(hms_fastai.__file__)'   # every module: no dependency missing
    r = subprocess.run([str(venv / 'bin' / 'python'), '-c', code], capture_output=True, text=True, env=_clean_env(), cwd=tmp_path)
    site = next((venv / 'lib').glob('python3*/site-packages'))
    assert r.returncode == 0 and str(site) in r.stdout, r.stderr[-2000:]           # the installed copy, not this checkout


def notebook_script(name: str, **params) -> str:
    """nbs/`name`'s code cells as one script, `params` assigned after its parameters cell (each must be one of its names)."""
    cells = [c for c in nbformat.read(REPO / 'nbs' / name, as_version=4).cells if c.cell_type == 'code']
    first = next(i for i, c in enumerate(cells) if 'parameters' in c.metadata.get('tags', []))
    names = {t.id for s in ast.parse(cells[first].source).body for t in s.targets}
    assert set(params) <= names, f'not parameters of {name}: {set(params) - names}'
    injected = '\n'.join(f'{k} = {v!r}' for k, v in params.items())
    code = [c.source for c in cells[:first + 1]] + [injected] + [c.source for c in cells[first + 1:]]
    return '\n\n'.join('\n'.join(line for line in src.splitlines() if not line.lstrip().startswith(('%', '!'))) for src in code)


def listing(root: Path, skip=()) -> dict:
    """Every file and folder under `root` (bar the top-level names in `skip`) with its size and mtime."""
    out = {}
    for p in root.rglob('*'):
        rel = p.relative_to(root)
        if rel.parts[0] in skip: continue
        st = p.lstat()
        out[str(rel)] = (st.st_size if p.is_file() else None, st.st_mtime_ns)
    return out


@pytest.mark.slow
def test_offline_kaggle_submission_rehearsed(kaggle_venv, synth_root, fastai_data, tmp_path):
    """Notebook 02 in the venv installed from the wheelhouse: the competition (its test part only) and a trained run as
    read-only inputs, no package index, HOME/caches/temp pointed at watched folders; it writes submission.csv into its cwd, and
    nothing else outside it but matplotlib's font cache."""
    _, venv, _ = kaggle_venv
    train, _, table = fastai_data
    inputs, work, elsewhere = tmp_path / 'input', tmp_path / 'working', tmp_path / 'elsewhere'
    for part in TEST_PARTS:
        src, dst = synth_root / part, inputs / 'competition' / part
        shutil.copytree(src, dst) if src.is_dir() else (dst.parent.mkdir(parents=True, exist_ok=True), shutil.copy2(src, dst))
    train_folds(table, train, inputs / 'run', folds_used=[0, 1], **TINY_RUN)
    homes = {k: elsewhere / k.lower() for k in ('HOME', 'XDG_CACHE_HOME', 'XDG_CONFIG_HOME', 'TORCH_HOME', 'MPLCONFIGDIR', 'TMPDIR')}
    for d in (work, *homes.values()): d.mkdir(parents=True)
    for p in inputs.rglob('*'): p.chmod(p.stat().st_mode & ~0o222)           # read-only (root may still write: watched below)
    before = listing(tmp_path, skip={'working'})
    script = notebook_script('02_submission.ipynb', DATA=str(inputs / 'competition'), MODELS=str(inputs / 'run'))
    env = _clean_env(PIP_NO_INDEX='1', PIP_CONFIG_FILE=os.devnull, HF_HUB_OFFLINE='1', **{k: str(v) for k, v in homes.items()})
    r = subprocess.run([str(venv / 'bin' / 'python'), '-c', script], capture_output=True, text=True, env=env, cwd=work)
    assert r.returncode == 0, r.stderr[-3000:]
    after = listing(tmp_path, skip={'working'})
    written = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    # outside the working folder only matplotlib's font cache (fastai imports matplotlib; on Kaggle: /root/.config)
    assert written <= {'elsewhere/mplconfigdir'} | {k for k in written if MPL_CACHE.fullmatch(k)}, sorted(written)
    sub, sample = pd.read_csv(work / 'submission.csv'), pd.read_csv(inputs / 'competition' / 'sample_submission.csv')
    assert list(sub.columns) == list(sample.columns) and sub.eeg_id.tolist() == sample.eeg_id.tolist()
    np.testing.assert_allclose(sub[TARGETS].sum(axis=1), 1, atol=1e-9)
    assert {p.name for p in work.iterdir()} == {'submission.csv', 'test_cache'}   # the notebook's defaults: both in its cwd
