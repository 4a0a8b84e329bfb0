"""The notebooks: committed clean, and run end to end (tiny synthetic training → exports → offline submission)."""
import ast
import os
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from hms_fastai.competition.io import load_competition
from hms_fastai.competition.meta import fold_table
from hms_fastai.core.constants import TARGETS
from hms_fastai.learn.infer import predict

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = ['01_train.ipynb', '02_submission.ipynb']
TINY = dict(N_EEGS=30, N_TEST=4, LR_FIND_ITERS=5, TRAIN=dict(arch='test_efficientnet', epochs=1, epochs2=1, bs=2, folds=2))


def read_notebook(name: str) -> nbformat.NotebookNode:
    """nbs/`name` as committed."""
    return nbformat.read(REPO / 'nbs' / name, as_version=4)


def run_notebook(name: str, cwd: Path, **params) -> nbformat.NotebookNode:
    """Execute nbs/`name` in `cwd` with `params` injected after its `parameters` cell; return the executed notebook."""
    nb = read_notebook(name)
    at = next(i for i, c in enumerate(nb.cells) if 'parameters' in c.metadata.get('tags', []))
    src = '\n'.join(f'{k} = {v!r}' for k, v in params.items())
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(src, metadata={'tags': ['injected-parameters']}))
    # No kernel dirs: 'python3' resolves to ipykernel's own spec, i.e. this interpreter, whatever specs are installed.
    km = KernelManager(kernel_name='python3', kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    NotebookClient(nb, km=km, timeout=600, resources={'metadata': {'path': str(cwd)}}).execute(cleanup_kc=True)
    return nb


def code_cells(nb) -> list:
    """The code cells of a notebook."""
    return [c for c in nb.cells if c.cell_type == 'code']


def check_submission(path: Path, root: Path) -> pd.DataFrame:
    """The submission file at `path`, checked: columns and eeg_ids of root's sample_submission, rows summing to 1."""
    sub, sample = pd.read_csv(path), pd.read_csv(root / 'sample_submission.csv')
    assert list(sub.columns) == list(sample.columns) and sub.eeg_id.tolist() == sample.eeg_id.tolist()
    np.testing.assert_allclose(sub[TARGETS].sum(axis=1), 1, atol=1e-9)
    return sub


@pytest.fixture(scope='module')
def kernel_env():
    """Kernels inherit the environment: make them import this checkout of hms_fastai, as the tests do."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('PYTHONPATH', os.pathsep.join(filter(None, [str(REPO), os.environ.get('PYTHONPATH')])))
        yield


@pytest.fixture(scope='module')
def trained(kernel_env, tmp_path_factory):
    """01_train executed in a tmp folder with the Kaggle folder absent (so on synthetic data): (folder, notebook)."""
    cwd = tmp_path_factory.mktemp('train_nb')
    return cwd, run_notebook('01_train.ipynb', cwd, DATA=str(cwd / 'no_kaggle_here'), **TINY)


@pytest.mark.parametrize('name', NOTEBOOKS)
def test_committed_clean_and_without_logic(name):
    nb = read_notebook(name)
    nbformat.validate(nb)
    cells = code_cells(nb)
    assert all(not c.outputs and c.execution_count is None for c in cells)
    assert 'parameters' in cells[0].metadata.get('tags', [])
    params = ast.parse(cells[0].source).body
    assert params and all(isinstance(s, ast.Assign) for s in params)
    code = ast.parse('\n'.join(line for c in cells for line in c.source.splitlines() if not line.startswith('%')))
    logic = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.For, ast.While)
    assert not [type(n).__name__ for n in ast.walk(code) if isinstance(n, logic)]


@pytest.mark.parametrize('name,given', [('01_train.ipynb', {'DATA', *TINY}), ('02_submission.ipynb', {'DATA', 'MODELS', 'CACHE', 'OUT', 'WEIGHTS'})])
def test_papermill_knows_every_parameter_the_tests_and_readme_pass(name, given):
    import papermill
    params = papermill.inspect_notebook(REPO / 'nbs' / name)            # what `papermill -p NAME VALUE` can set
    assert given <= set(params) and all(p['help'] for p in params.values()), sorted(given - set(params))


def test_train_notebook_on_synthetic_data_exports_fold_learners(trained):
    cwd, nb = trained
    models = cwd / 'hms_models'
    assert sorted(p.name for p in models.iterdir()) == sorted(['models.json', 'oof.csv', *(f'fold{k}{x}' for k in range(2)
                                                                for x in ('.pkl', '.json', '.safetensors', '_oof.csv', '_history.csv'))])
    assert (cwd / 'synthetic' / 'train.csv').is_file() and (cwd / 'cache' / 'train' / 'index.parquet').is_file()
    oof = pd.read_csv(models / 'oof.csv')
    assert len(oof) == TINY['N_EEGS'] and sorted(oof.fold.unique()) == [0, 1]
    cli_folds = fold_table(load_competition(cwd / 'synthetic'), 2).set_index('eeg_id').fold   # what `hms-fastai train` uses
    assert oof.set_index('eeg_id').fold.sort_index().equals(cli_folds.sort_index())
    np.testing.assert_allclose(oof[TARGETS].sum(axis=1), 1, rtol=1e-5)
    pngs = [o for c in code_cells(nb) for o in c.outputs if 'image/png' in o.get('data', {})]
    assert len(pngs) == 5            # plot_eeg, show_image, show_batch, lr_find, plot_loss


def test_submission_notebook_on_the_exported_learners(trained, tmp_path):
    cwd, _ = trained
    root, models = cwd / 'synthetic', cwd / 'hms_models'
    run_notebook('02_submission.ipynb', tmp_path, DATA=str(root), MODELS=str(models),
                 CACHE=str(tmp_path / 'cache'), OUT=str(tmp_path / 'sub.csv'), WEIGHTS=[1, 3])
    sub = check_submission(tmp_path / 'sub.csv', root)
    # each fold learner alone, with the same deterministic TTA, then the weighted mean computed here
    fold0, fold1 = (predict([models / f'fold{k}.json'], root, tmp_path / 'cache')[TARGETS].to_numpy() for k in (0, 1))
    want = (fold0 + 3 * fold1) / 4
    np.testing.assert_allclose(sub[TARGETS].to_numpy(), want / want.sum(1, keepdims=True), atol=1e-6)
    assert not np.allclose(fold0, fold1, atol=1e-4)             # the weights change the result


def test_submission_notebook_on_the_real_test_layout(trained, real_root, tmp_path):
    cwd, _ = trained
    run_notebook('02_submission.ipynb', tmp_path, DATA=str(real_root), MODELS=str(cwd / 'hms_models'),
                 CACHE=str(tmp_path / 'cache'), OUT=str(tmp_path / 'submission.csv'))
    assert check_submission(tmp_path / 'submission.csv', real_root).eeg_id.tolist() == [3911565283]
