"""The offline wheelhouse: built here, then installed with no index into a fresh venv that has only torch (as Kaggle does)."""
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from hms_fastai.cli import main
from hms_fastai.wheelhouse import PROVIDED, dependency_pins, installed_closure


def test_pins_leave_out_torch_and_torchvision():
    pins = {p.split('==')[0].lower() for p in dependency_pins()}
    assert not pins & set(PROVIDED) and {'fastai', 'timm', 'pandas', 'safetensors'} <= pins


def test_install_from_the_wheelhouse_with_no_index(tmp_path, capsys):
    assert main(['wheelhouse', '--out', str(tmp_path / 'wheels')]) == 0
    assert 'wheels' in capsys.readouterr().out
    wheels = {w.name.split('-')[0].lower().replace('_', '-') for w in (tmp_path / 'wheels').glob('*.whl')}
    assert 'hms-fastai' in wheels and 'torch' not in wheels
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True, capture_output=True)   # pip from ensurepip: offline
    site = next((venv / 'lib').glob('python3*/site-packages'))
    for dist in installed_closure(PROVIDED, {'pip', 'setuptools'}):   # torch, torchvision and what they need: linked, as Kaggle has them
        for top in {Path(str(f)).parts[0] for f in dist.files or []} - {'..', 'bin'}:
            src = Path(dist.locate_file(top))
            if src.exists() and not (site / top).exists(): (site / top).symlink_to(src)
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PIP_EXTRA_INDEX_URL', 'PIP_FIND_LINKS')}
    r = subprocess.run([str(venv / 'bin' / 'python'), '-m', 'pip', 'install', '-q', '--no-compile', '--no-index', '--find-links', str(tmp_path / 'wheels'),
                        'hms_fastai'], capture_output=True, text=True, env={**env, 'PIP_CONFIG_FILE': os.devnull})
    assert r.returncode == 0, r.stderr[-3000:]
    sol = tmp_path / 'sol.csv'
    sol.write_text('eeg_id,seizure_vote,lpd_vote,gpd_vote,lrda_vote,grda_vote,other_vote\n1,1,0,0,0,0,0\n')
    r = subprocess.run([str(venv / 'bin' / 'hms-fastai'), 'score', '--solution', str(sol), '--submission', str(sol)],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == '0.000000', r.stderr[-2000:]
    code = 'import hms_fastai.all, hms_fastai, torch; print(hms_fastai.__file__)'   # every module: no dependency missing
    r = subprocess.run([str(venv / 'bin' / 'python'), '-c', code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0 and str(site) in r.stdout, r.stderr[-2000:]           # the installed copy, not this checkout
