"""Bad input through every subcommand: exit 2, one stderr line naming the file / id / argument, no traceback, and no
file written or changed."""
import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hms_fastai.cli import main, parser


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob('*'))}


@pytest.fixture(scope='module')
def data(synth_root, tmp_path_factory) -> Path:
    """A writable copy of the synthetic competition (cases spoil their own copies of its csv files)."""
    root = tmp_path_factory.mktemp('refusals') / 'data'
    shutil.copytree(synth_root, root)
    return root


def _spoil(data: Path, work: Path, name: str, change) -> Path:
    """A copy of `data` (parquet linked, not copied) whose csv `name` is changed by `change(df)`."""
    root = work / 'spoiled'
    shutil.copytree(data, root, copy_function=lambda s, d: (Path(d).symlink_to(s) if s.endswith('.parquet') else shutil.copy(s, d)))
    df = pd.read_csv(root / name)
    change(df).to_csv(root / name, index=False)
    return root


def _sub(data: Path, work: Path, change=lambda d: d) -> Path:
    path = work / 'sub.csv'
    change(pd.read_csv(data / 'test_solution.csv')).to_csv(path, index=False)
    return path


def _run_folder(work: Path, run: dict) -> Path:
    out = work / 'run'
    out.mkdir()
    (out / 'models.json').write_text(json.dumps({'format': 1, 'run': run, 'folds': [0, 1], 'done': {}, 'complete': False}))
    return out


def _pickle_run(work: Path) -> Path:
    out = work / 'run'
    out.mkdir()
    (out / 'fold0.pkl').write_bytes(b'not really')
    h = __import__('hashlib').sha256(b'not really').hexdigest()
    (out / 'models.json').write_text(json.dumps({'format': 1, 'run': {}, 'folds': [0], 'done': {'0': {'fold0.pkl': h}},
                                                 'complete': True, 'files': {}}))
    return out


def _file(work: Path, name: str = 'a_file', text: str = 'hello') -> Path:
    (work / name).write_text(text)
    return work / name


def _folder(work: Path, name: str, files=('x.txt',)) -> Path:
    (work / name).mkdir()
    for f in files: (work / name / f).write_text('mine')
    return work / name


def _old_cache(work: Path) -> Path:
    c = _folder(work, 'cache', ())
    (c / 'manifest.json').write_text(json.dumps({'format': 1, 'data_root': '/somewhere'}))
    return c


def _train(d, w, *extra, out: str = 'out'):
    return ['train', '--data', str(d), '--cache', str(w / 'cache'), '--out', str(w / out), '--arch', 'test_efficientnet', *extra]


def _predict(d, w, models, *extra):
    return ['predict', '--data', str(d), '--cache', str(w / 'cache'), '--models', str(models), '--out', str(w / 'sub.csv'), *extra]


def _experiments(d, w, *extra):
    return ['experiments', '--data', str(d), '--cache', str(w / 'cache'), '--out', str(w / 'exp'), *extra]


def _votes(v):
    return lambda df: df.assign(seizure_vote=df.seizure_vote.astype(float).where(df.index > 0, v))


def _offset(v, col='eeg_label_offset_seconds'):
    return lambda df: df.assign(**{col: df[col].astype(float).where(df.index > 0, v)})


CASES = {   # name → (args from (data, work), what the one stderr line must name)
    'synth: --out is a file': (lambda d, w: ['synth', '--out', str(_file(w))], 'is a file, not a folder'),
    'synth: --out holds real files': (lambda d, w: ['synth', '--out', str(_folder(w, 'comp', ['train.csv']))], 'not a previous synthetic output'),
    'synth: --n-eegs 0': (lambda d, w: ['synth', '--out', str(w / 's'), '--n-eegs', '0'], 'argument --n-eegs: must be at least 1'),
    'synth: --n-test -1': (lambda d, w: ['synth', '--out', str(w / 's'), '--n-test', '-1'], 'argument --n-test'),
    'synth: --seed -1': (lambda d, w: ['synth', '--out', str(w / 's'), '--seed', '-1'], 'argument --seed'),
    'synth: --n-eegs abc': (lambda d, w: ['synth', '--out', str(w / 's'), '--n-eegs', 'abc'], "expected an integer, got 'abc'"),
    'score: no solution file': (lambda d, w: ['score', '--solution', str(w / 'nope.csv'), '--submission', str(_sub(d, w))], 'nope.csv: file not found'),
    'score: header-only submission': (lambda d, w: ['score', '--solution', str(d / 'test_solution.csv'), '--submission',
                                                    str(_sub(d, w, lambda s: s.iloc[:0]))], 'sub.csv: no rows'),
    'score: NaN probability': (lambda d, w: ['score', '--solution', str(d / 'test_solution.csv'), '--submission',
                                             str(_sub(d, w, lambda s: s.assign(lpd_vote=np.nan)))], 'sub.csv: non-finite values'),
    'score: missing eeg_ids': (lambda d, w: ['score', '--solution', str(d / 'test_solution.csv'), '--submission',
                                             str(_sub(d, w, lambda s: s.iloc[1:]))], 'sub.csv: eeg_ids differ from'),
    'score: not a csv': (lambda d, w: ['score', '--solution', str(d / 'test_solution.csv'), '--submission',
                                       str(_file(w, 'sub.csv', '\x00\x01\x02'))], 'sub.csv'),
    'check: no folder': (lambda d, w: ['check', '--data', str(w / 'nowhere')], 'competition folder not found'),
    'check: NaN votes': (lambda d, w: ['check', '--data', str(_spoil(d, w, 'train.csv', _votes(np.nan)))], 'have missing (NaN) votes'),
    'check: negative votes': (lambda d, w: ['check', '--data', str(_spoil(d, w, 'train.csv', _votes(-1)))], 'have negative votes'),
    'check: NaN offset': (lambda d, w: ['check', '--data', str(_spoil(d, w, 'train.csv', _offset(np.nan)))], 'missing (NaN) label offsets'),
    'check: negative offset': (lambda d, w: ['check', '--data', str(_spoil(d, w, 'train.csv', _offset(-4.0, 'spectrogram_label_offset_seconds')))],
                               'have negative label offsets'),
    'check: unknown eeg file': (lambda d, w: ['check', '--data', str(_spoil(d, w, 'train.csv', lambda t: t.assign(eeg_id=t.eeg_id + 1)))],
                                'train EEG file(s) missing'),
    'prepare: --split bad': (lambda d, w: ['prepare', '--data', str(d), '--cache', str(w / 'c'), '--split', 'val'], 'argument --split'),
    'prepare: --parts bad': (lambda d, w: ['prepare', '--data', str(d), '--cache', str(w / 'c'), '--parts', 'mel'], 'argument --parts'),
    'prepare: --margin -1': (lambda d, w: ['prepare', '--data', str(d), '--cache', str(w / 'c'), '--margin', '-1'], 'argument --margin'),
    'prepare: --max-seconds 10': (lambda d, w: ['prepare', '--data', str(d), '--cache', str(w / 'c'), '--max-seconds', '10'],
                                  'argument --max-seconds: must be at least 50'),
    'prepare: --cache is a file': (lambda d, w: ['prepare', '--data', str(d), '--cache', str(_file(w))], '--cache: '),
    'prepare: --cache not a cache': (lambda d, w: ['prepare', '--data', str(d), '--cache', str(_folder(w, 'mine'))], 'not an hms_fastai cache'),
    'prepare: --cache old format': (lambda d, w: ['prepare', '--data', str(d), '--cache', str(_old_cache(w))], 'cache format 1 is not the current'),
    'prepare: NaN votes': (lambda d, w: ['prepare', '--data', str(_spoil(d, w, 'train.csv', _votes(np.nan))), '--cache', str(w / 'c')],
                           'have missing (NaN) votes'),
    'train: --bs 0': (lambda d, w: _train(d, w, '--bs', '0'), 'argument --bs: must be at least 2'),
    'train: --bs 1': (lambda d, w: _train(d, w, '--bs', '1'), 'argument --bs: must be at least 2'),
    'train: --epochs 0': (lambda d, w: _train(d, w, '--epochs', '0'), 'argument --epochs: must be at least 1'),
    'train: --epochs -3': (lambda d, w: _train(d, w, '--epochs', '-3'), 'argument --epochs'),
    'train: --epochs2 -1': (lambda d, w: _train(d, w, '--epochs2', '-1'), 'argument --epochs2: must be at least 0'),
    'train: --lr 0': (lambda d, w: _train(d, w, '--lr', '0'), 'argument --lr: must be in (0, 1]'),
    'train: --lr nan': (lambda d, w: _train(d, w, '--lr', 'nan'), 'argument --lr'),
    'train: --lr 50': (lambda d, w: _train(d, w, '--lr', '50'), 'argument --lr'),
    'train: --mixup -0.5': (lambda d, w: _train(d, w, '--mixup', '-0.5'), 'argument --mixup'),
    'train: --jitter -1': (lambda d, w: _train(d, w, '--jitter', '-1'), 'argument --jitter'),
    'train: --windows bogus': (lambda d, w: _train(d, w, '--windows', 'middle'), 'argument --windows'),
    'train: --folds 1': (lambda d, w: _train(d, w, '--folds', '1'), 'argument --folds: must be at least 2'),
    'train: unknown --channels': (lambda d, w: _train(d, w, '--channels', 'spec_XX'), "argument --channels: unknown channel(s) ['spec_XX']"),
    'train: unknown --kind': (lambda d, w: _train(d, w, '--kind', 'video'), "--kind: unknown kind 'video'; known: ['image', 'signal']"),
    'train: unknown --arch': (lambda d, w: _train(d, w)[:-1] + ['not_a_net'], "--arch: 'not_a_net' is not a body for 8 input channels"),
    'train: --arch needs 224×224': (lambda d, w: _train(d, w)[:-1] + ['vit_tiny_patch16_224'],
                                    "'vit_tiny_patch16_224' is not a body for 8 input channels of kind 'image'"),
    'train: --precision bf16 on a CPU': (lambda d, w: _train(d, w, '--precision', 'bf16'), '--precision: bf16 mixed precision needs a CUDA device'),
    'train: --precision bogus': (lambda d, w: _train(d, w, '--precision', 'fp8'), 'argument --precision: must be one of'),
    'train: --pretrained a text file': (lambda d, w: _train(d, w, '--pretrained', str(_file(w, 'w.pth'))), 'w.pth: not a weights file'),
    'train: --pretrained missing': (lambda d, w: _train(d, w, '--pretrained', str(w / 'none.pth')), 'no such weights file'),
    'train: --out is a file': (lambda d, w: _train(d, w)[:6] + [str(_file(w))] + _train(d, w)[7:], '--out: '),
    'train: --out of another run': (lambda d, w: (_run_folder(w, {'epochs': 99}), _train(d, w, '--epochs', '1', '--epochs2', '0',
                                                                                         '--folds', '2', '--bs', '4', out='run'))[1],
                                    'holds another run'),
    'train: too few expert rows for stage 2': (lambda d, w: _train(d, w, '--folds', '2', '--bs', '8'), 'expert training rows, fewer than one batch (bs=8)'),
    'train: a fold short of one batch': (lambda d, w: _train(d, w, '--folds', '2', '--bs', '64', '--epochs2', '0'),
                                         '--bs: fold 0 has 12 training rows, fewer than one batch (bs=64)'),
    'train: --targets bogus': (lambda d, w: _train(d, w, '--targets', 'row'), 'argument --targets: must be one of'),
    'train: --processes 1000': (lambda d, w: _train(d, w, '--processes', '1000'), '--processes: 1000 processes, but this machine has'),
    'train: --data missing': (lambda d, w: ['train', '--data', str(w / 'nowhere'), '--cache', str(w / 'c'), '--out', str(w / 'o')],
                              '--data: '),
    'predict: --models missing': (lambda d, w: _predict(d, w, w / 'nope'), '--models: '),
    'predict: --models without manifest': (lambda d, w: _predict(d, w, _folder(w, 'models', ['fold0.pkl'])), 'no models.json'),
    'predict: only pickles': (lambda d, w: _predict(d, w, _pickle_run(w)), 'only a pickle was exported'),
    'predict: a pickle file': (lambda d, w: _predict(d, w, _file(w, 'fold0.pkl')), 'a pickle runs code when loaded'),
    'predict: --out is a folder': (lambda d, w: _predict(d, w, w)[:-1] + [str(_folder(w, 'outdir'))], 'is a folder, not a file'),
    'predict: not a spec': (lambda d, w: _predict(d, w, _file(w, 'fold0.json', '{"format": 1')), 'not a readable export spec'),
    'experiments: --folds 1': (lambda d, w: _experiments(d, w, '--folds', '1'), 'argument --folds'),
    'experiments: unknown --only': (lambda d, w: _experiments(d, w, '--only', 'nope'), "unknown config(s) ['nope']"),
    'experiments: --bs 1': (lambda d, w: _experiments(d, w, '--bs', '1'), 'argument --bs'),
    'experiments: --out is a file': (lambda d, w: ['experiments', '--data', str(d), '--cache', str(w / 'c'), '--out', str(_file(w))],
                                     '--out: '),
    'demo: too few eegs for stage 2': (lambda d, w: ['demo', '--out', str(w / 'demo'), '--n-eegs', '50'], '--n-eegs: 50 eegs have too few'),
    'demo: unknown --arch': (lambda d, w: ['demo', '--out', str(w / 'demo'), '--arch', 'nope'], "'nope' is not a body for 8 input"),
    'demo: --out is a file': (lambda d, w: ['demo', '--out', str(_file(w))], '--out: '),
    'demo: --epochs 0': (lambda d, w: ['demo', '--out', str(w / 'demo'), '--epochs', '0'], 'argument --epochs'),
    'blend: an OOF file missing': (lambda d, w: ['blend', str(w / 'run' / 'oof.csv'), '--data', str(d), '--out', str(w / 'b.json')],
                                   'oof.csv: file not found'),
    'blend: --on bad': (lambda d, w: ['blend', str(d / 'test_oracle.csv'), '--data', str(d), '--out', str(w / 'b.json'), '--on', 'some'],
                        'argument --on'),
    'blend: --out is a folder': (lambda d, w: ['blend', str(d / 'test_oracle.csv'), '--data', str(d), '--out', str(w)], 'is a folder, not a file'),
    'wheelhouse: --out is a file': (lambda d, w: ['wheelhouse', '--out', str(_file(w))], 'is a file, not a folder'),
    'wheelhouse: --source not a checkout': (lambda d, w: ['wheelhouse', '--out', str(w / 'wh'), '--source', str(w)], 'no pyproject.toml'),
    'predict: --bs 0': (lambda d, w: _predict(d, w, w) + ['--bs', '0'], '--bs: must be at least 1'),
    'predict: --test-windows bogus': (lambda d, w: _predict(d, w, w) + ['--test-windows', 'middle'], 'argument --test-windows'),
    'check: test.csv with one offset column': (lambda d, w: ['check', '--data', str(_spoil(d, w, 'test.csv', lambda t: t.assign(
                                                   eeg_label_offset_seconds=0.0)))],
                                               'gives eeg_label_offset_seconds but not spectrogram_label_offset_seconds'),
    'predict: --weights missing': (lambda d, w: _predict(d, w, w) + ['--weights', str(w / 'nope.json')], '--weights: '),
    'compare: --top -1': (lambda d, w: ['compare', str(d / 'test_oracle.csv'), str(d / 'test_solution.csv'), '--top', '-1'], 'argument --top'),
    'compare: A missing': (lambda d, w: ['compare', str(w / 'a.csv'), str(d / 'test_solution.csv')], 'a.csv: file not found'),
    'compare: --plot is a folder': (lambda d, w: ['compare', str(d / 'test_oracle.csv'), str(d / 'test_solution.csv'), '--plot', str(w)],
                                    '--plot: '),
}


@pytest.mark.parametrize('case', CASES)
def test_refused_with_one_line_and_nothing_written(case, data, tmp_path, capsys):
    make, wanted = CASES[case]
    args = make(data, tmp_path)
    before, data_before = _snapshot(tmp_path), _snapshot(data)
    try: code = main(args)
    except SystemExit as e: code = e.code                    # argparse's own refusals
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert wanted in err[0] and 'Traceback' not in err[0], err[0]
    assert _snapshot(tmp_path) == before and _snapshot(data) == data_before


def test_the_matrix_covers_every_subcommand():
    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert {c.split(':')[0] for c in CASES} == set(commands) and len(CASES) >= 4 * len(commands)
