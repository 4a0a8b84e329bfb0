"""The house: layers import only downhill, the light face loads nothing heavy, every public name is reachable, docstrings."""
import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import hms_fastai

PACKAGE = Path(hms_fastai.__file__).parent
LAYERS = hms_fastai.LAYERS                       # lowest first
FACES = ['cli', 'demo', 'wheelhouse', 'all', '__init__', '__main__']
HEAVY = ('torch', 'fastai', 'timm', 'matplotlib', 'torchvision')


def _modules() -> dict[str, Path]:
    """Dotted module name (relative to the package) → file, for every module of the package."""
    out = {}
    for f in sorted(PACKAGE.rglob('*.py')):
        parts = f.relative_to(PACKAGE).with_suffix('').parts
        out['.'.join(parts[:-1] if parts[-1] == '__init__' and len(parts) > 1 else parts)] = f
    return out


def _imported(name: str, path: Path) -> set[str]:
    """The package modules `name` imports (relative or absolute, at any depth of the file), as dotted names."""
    pkg = name.split('.') if path.name == '__init__.py' else name.split('.')[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[:len(pkg) - node.level + 1]
                mod = '.'.join(base + ([node.module] if node.module else []))
                found |= {mod} if node.module else {'.'.join(base + [a.name]) for a in node.names}
            elif node.module and node.module.startswith('hms_fastai'):
                found.add(node.module.removeprefix('hms_fastai').lstrip('.'))
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix('hms_fastai').lstrip('.') for a in node.names if a.name.startswith('hms_fastai')}
    return {m for m in found if m}


def _layer(module: str) -> int | None:
    """Index of a module's layer in LAYERS (None for a face)."""
    top = module.split('.')[0]
    return LAYERS.index(top) if top in LAYERS else None


def test_the_file_list_reads_as_the_data_path():
    rooms = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith(('_', '.')))
    assert sorted(LAYERS) == rooms
    loose = sorted(p.stem for p in PACKAGE.glob('*.py'))
    assert set(loose) <= set(FACES), loose


def test_each_layer_imports_only_layers_below_it():
    modules = _modules()
    uphill = []
    for name, path in modules.items():
        mine = _layer(name)
        if mine is None: continue
        for dep in _imported(name, path):
            theirs = _layer(dep)
            if theirs is None or theirs > mine: uphill.append(f'{name} → {dep}')
    assert not uphill, uphill
    assert {'learn.data', 'competition.score', 'core.atomic'} <= _imported('learn.recipes', modules['learn.recipes'])   # it reads


def test_no_import_cycles_inside_a_layer():
    graph = {n: {d for d in _imported(n, p) if d in _modules()} for n, p in _modules().items() if _layer(n) is not None}
    state = {}

    def visit(n, path):
        if state.get(n) == 'done': return
        assert state.get(n) != 'open', ' → '.join(path + [n])
        state[n] = 'open'
        for d in graph.get(n, ()): visit(d, path + [n])
        state[n] = 'done'
    for n in graph: visit(n, [])


def test_light_face_and_cli_load_nothing_heavy():
    code = ('import sys, warnings, numpy, pandas, pyarrow.parquet, scipy.signal; before = list(warnings.filters); '  # theirs
            'import hms_fastai as h, hms_fastai.cli; '
            'h.TARGETS, h.kaggle_score, h.load_competition, h.make_synthetic; '
            f'print(sorted(m for m in {HEAVY!r} if m in sys.modules), warnings.filters == before)')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ['[]', 'True'], r.stdout + r.stderr


def test_help_and_score_start_without_torch(tmp_path):
    sol = tmp_path / 'sol.csv'
    sol.write_text('eeg_id,seizure_vote,lpd_vote,gpd_vote,lrda_vote,grda_vote,other_vote\n1,1,0,0,0,0,0\n')
    code = ('import sys, contextlib, io; from hms_fastai.cli import main; out = io.StringIO()\n'
            'with contextlib.redirect_stdout(out):\n'
            '    try: main(["--help"])\n'
            '    except SystemExit: pass\n'
            f'    rc = main(["score", "--solution", {str(sol)!r}, "--submission", {str(sol)!r}])\n'
            f'print(rc, sorted(m for m in {HEAVY!r} if m in sys.modules), out.getvalue().splitlines()[-1])')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ['0', '[]', '0.000000'], r.stdout + r.stderr


def test_every_public_name_is_reachable_from_the_face():
    table = hms_fastai.public_names()
    every = [n for names in table.values() for n in names]
    assert len(every) == len(set(every)), sorted(n for n in set(every) if every.count(n) > 1)   # one name, one thing
    defined = [n for n, p in _modules().items() if _layer(n) is not None and n not in LAYERS] + ['demo', 'wheelhouse']
    assert sorted(table) == sorted(defined)                                 # every module of the layers declares its names
    for module, names in table.items():                                    # the table read from the source = what imports
        assert list(importlib.import_module(f'hms_fastai.{module}').__all__) == names, module
    all_ = importlib.import_module('hms_fastai.all')
    assert sorted(all_.__all__) == sorted(every) == sorted(hms_fastai.__all__)
    for name in every:
        assert getattr(hms_fastai, name) is getattr(all_, name), name
    with pytest.raises(AttributeError, match='no attribute'): hms_fastai.not_a_name
    assert hms_fastai.learn.__name__ == 'hms_fastai.learn'


def _defs(tree: ast.Module):
    """Public functions, classes and methods of a module (nested functions and dunders excluded)."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            yield node
            if isinstance(node, ast.ClassDef):
                yield from (m for m in node.body if isinstance(m, ast.FunctionDef) and not m.name.startswith('__'))


def test_docstrings_are_one_line():
    bad = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text())
        for node in _defs(tree):
            doc = ast.get_docstring(node)
            if node.name.startswith('_') and doc is None: continue
            if not doc or '\n' in doc: bad.append(f'{name}.{node.name}')
    assert not bad, bad
