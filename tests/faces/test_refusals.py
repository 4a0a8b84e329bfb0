"""Bad input through every subcommand: exit 2, one stderr line naming the file / id / argument, no traceback, and no
file written or changed (but for what a valid run keeps, named by the case)."""
import argparse
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hms_fastai.cli import main, parser
from hms_fastai.core.constants import CHANNELS, TARGETS


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


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _export(folder: Path, k: int = 0, **change) -> Path:
    """A fold export in `folder`: its weights file (not real tensors: every case is refused before they are read) and its
    spec, with `change`d fields."""
    folder.mkdir(exist_ok=True)
    (folder / f'fold{k}.safetensors').write_bytes(b'tensors')
    spec = {'format': 1, 'kind': 'image', 'arch': 'test_efficientnet', 'n_in': 8, 'n_out': 6, 'head': {}, 'channels': list(CHANNELS),
            'weights': f'fold{k}.safetensors', 'sha256': _sha(folder / f'fold{k}.safetensors'), **change}
    (folder / f'fold{k}.json').write_text(json.dumps(spec))
    return folder / f'fold{k}.json'


def _finished(w: Path, name: str = 'run', run: dict | None = None, complete: bool = True, folds=(0, 1), names=None) -> Path:
    """A finished run folder of such exports: models.json with each file's hash (`names`: fold → its file names instead)."""
    out = w / name
    for k in folds: _export(out, k)
    names = names or {k: [f'fold{k}.json', f'fold{k}.safetensors'] for k in folds}
    done = {str(k): {n: _sha(out / n) if (out / n).is_file() else _sha(w / 'other' / Path(n).name) for n in ns} for k, ns in names.items()}
    (out / 'models.json').write_text(json.dumps({'format': 1, 'run': run or {}, 'folds': list(folds), 'done': done,
                                                 'complete': complete, 'files': {}}))
    return out


def _escaping(w: Path) -> Path:
    """A finished run whose fold 0 entries point into a sibling folder, with valid hashes."""
    _export(w / 'other', 0)
    return _finished(w, names={0: ['../other/fold0.json', '../other/fold0.safetensors'], 1: ['fold1.json', 'fold1.safetensors']})


def _link_out(w: Path) -> Path:
    """An export whose weights file is a link to a file outside its folder."""
    spec = _export(w / 'm')
    (w / 'x.safetensors').write_bytes(b'tensors')
    spec.with_suffix('.safetensors').unlink()
    spec.with_suffix('.safetensors').symlink_to(w / 'x.safetensors')
    return spec


def _less_done(w: Path) -> Path:
    """A finished run whose models.json lists a fold it has no files of."""
    out = _finished(w)
    m = json.loads((out / 'models.json').read_text())
    (out / 'models.json').write_text(json.dumps({**m, 'folds': [0, 1, 2]}))
    return out


def _oof(d: Path, w: Path, row: int, values) -> Path:
    """An OOF file of every train eeg (uniform probabilities) whose row `row` holds `values` (6 numbers)."""
    ids = np.sort(pd.read_csv(d / 'train.csv').eeg_id.unique())
    p = np.full((len(ids), 6), 1 / 6)
    p[row] = values
    (w / 'a').mkdir()
    pd.DataFrame({'eeg_id': ids, 'fold': np.arange(len(ids)) % 2, **dict(zip(TARGETS, p.T))}).to_csv(w / 'a' / 'oof.csv', index=False)
    return w / 'a' / 'oof.csv'


def _blend(d: Path, w: Path, row: int, values) -> list:
    return ['blend', str(_oof(d, w, row, values)), '--data', str(d), '--out', str(w / 'b.json')]


def _weights_file(w: Path, weights) -> Path:
    """A blend file (hms-fastai blend's fields) with these weights."""
    (w / 'b.json').write_text(json.dumps({'weights': weights, 'on': 'expert', 'kl': 0.5, 'kl_heldout': 0.6, 'kl_equal': 0.7}))
    return w / 'b.json'


def _several_rows_past_the_end(df: pd.DataFrame) -> pd.DataFrame:
    """train.csv with the spectrogram offset of one row of an eeg that has several rows far past its file's end."""
    row = df.index[df.eeg_id.duplicated(keep=False)][-1]
    return df.assign(spectrogram_label_offset_seconds=df.spectrogram_label_offset_seconds.astype(float).where(df.index != row, 77777))


def _pseudo(d, w, first, *extra):
    return _train(d, w, '--epochs2', '0', '--folds', '2', '--bs', '4', '--targets', 'eeg', '--pseudo', str(first), *extra)


def _votes(v):
    return lambda df: df.assign(seizure_vote=df.seizure_vote.astype(float).where(df.index > 0, v))


def _offset(v, col='eeg_label_offset_seconds'):
    return lambda df: df.assign(**{col: df[col].astype(float).where(df.index > 0, v)})


CASES = {   # name → (args from (data, work), what the one stderr line must name (or each of several)[, what a valid run keeps])
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
    # issue 19 §1: a run folder names only its own files; a spec is checked whole before anything is built from it
    'predict: models.json names ../other/fold0.json': (lambda d, w: _predict(d, w, _escaping(w)),
                                                       ("run/models.json: 'done' fold 0 names '../other/fold0.json'", 'own folder')),
    'predict: models.json lists more folds than files': (lambda d, w: _predict(d, w, _less_done(w)),
                                                         "models.json: 'folds' lists fold 2, but 'done' has no files of it"),
    'predict: spec weights ../x.safetensors': (lambda d, w: _predict(d, w, _export(w / 'm', weights='../x.safetensors')),
                                               "fold0.json: 'weights' names '../x.safetensors', not a file of its own folder"),
    'predict: spec weights /etc/passwd': (lambda d, w: _predict(d, w, _export(w / 'm', weights='/etc/passwd')),
                                          "fold0.json: 'weights' names '/etc/passwd', not a file of its own folder"),
    'predict: spec weights a link leaving the folder': (lambda d, w: _predict(d, w, _link_out(w)),
                                                        ("fold0.json: 'weights' names 'fold0.safetensors', a link to", 'x.safetensors outside')),
    'predict: spec unknown arch': (lambda d, w: _predict(d, w, _export(w / 'm', arch='not_a_net')),
                                   "fold0.json: 'arch' 'not_a_net' (head {}) builds no 'image' model (RuntimeError: Unknown model"),
    'predict: spec head the body does not take': (lambda d, w: _predict(d, w, _export(w / 'm', head={'depth': 3})),
                                                  "fold0.json: 'head' has ['depth'], which the image kind does not take"),
    'predict: spec unknown channel': (lambda d, w: _predict(d, w, _export(w / 'm', channels=[*CHANNELS[:7], 'eeg_XX'])),
                                      "fold0.json: 'channels': the image kind cannot read ['eeg_XX']"),
    'predict: spec n_in not its channels': (lambda d, w: _predict(d, w, _export(w / 'm', n_in=3)), "fold0.json: 'n_in' is 3, not its 8 channels"),
    # §2: blends refuse what cannot be a probability, before any learner loads
    'blend: NaN in an OOF file': (lambda d, w: _blend(d, w, 3, [np.nan, 1, 0, 0, 0, 0]),
                                  ('oof.csv: eeg_id ', ': seizure_vote is not a finite number (nan)')),
    'blend: inf in an OOF file': (lambda d, w: _blend(d, w, 0, [0, 0, np.inf, 0, 0, 0]), ('oof.csv: eeg_id ', ': gpd_vote is not a finite number (inf)')),
    'blend: a negative OOF value': (lambda d, w: _blend(d, w, 5, [1, -0.2, 0, 0, 0, 0.2]), ('oof.csv: eeg_id ', ': lpd_vote is negative (-0.2)')),
    'blend: an all-zero OOF row': (lambda d, w: _blend(d, w, 1, [0] * 6), ('oof.csv: eeg_id ', ': every column', 'is 0: not a distribution')),
    'predict: --weights negative': (lambda d, w: _predict(d, w, w) + ['--weights', str(_weights_file(w, {'run': -1.0}))],
                                    "b.json: 'weights': 'run' has -1.0, not a finite non-negative number"),
    'predict: --weights NaN': (lambda d, w: _predict(d, w, w) + ['--weights', str(_weights_file(w, {'run': float('nan')}))],
                               "b.json: 'weights': 'run' has nan, not a finite"),
    'predict: --weights all zero': (lambda d, w: _predict(d, w, w) + ['--weights', str(_weights_file(w, {'run': 0, 'other': 0}))],
                                    "b.json: 'weights' are all 0"),
    'predict: --weights a list': (lambda d, w: _predict(d, w, w) + ['--weights', str(_weights_file(w, [0.5, 0.5]))],
                                  "b.json: 'weights' must map each run folder to its weight, got list"),
    'predict: --weights a string weight': (lambda d, w: _predict(d, w, w) + ['--weights', str(_weights_file(w, {'run': '0.5'}))],
                                           "b.json: 'weights': 'run' has '0.5', not a finite non-negative number"),
    # §4: a pseudo-label first round that would leak, or is unfinished or altered, is refused before any training
    'train: --pseudo trained on other folds': (lambda d, w: _pseudo(d, w, _finished(w, 'first', run={'rows_and_folds': 'other'})),
                                               ('--pseudo: ', 'first was trained on other folds')),
    'train: --pseudo unfinished': (lambda d, w: _pseudo(d, w, _finished(w, 'first', complete=False)),
                                   'first/models.json: the run is not finished'),
    'train: --pseudo with a fold file gone': (lambda d, w: _pseudo(d, w, (_finished(w, 'first'), (w / 'first' / 'fold1.safetensors').unlink())[0]),
                                              'first: the files of fold 1 are missing or altered since training'),
    # §6: a spectrogram offset past the end on one row of a several-row eeg (the cache folder, as a valid run's, is kept)
    'prepare: spectrogram offset past the end, several-row eeg': (
        lambda d, w: ['prepare', '--data', str(_spoil(d, w, 'train.csv', _several_rows_past_the_end)), '--cache', str(w / 'c')],
        ('.parquet: eeg_id ', ': its spectrogram offset 77777 s is past the end of the file'), ('c',)),
}


_SPACE = '[fixed]\narch = "test_efficientnet"\n[search]\nlr = {low = 1e-3, high = 1e-2, log = true}\n'


def _tune(d, w, *extra, space: str = _SPACE):
    return ['tune', '--data', str(d), '--cache', str(w / 'cache'), '--out', str(w / 'sweep'), '--space', str(_file(w, 'space.toml', space)),
            *extra]


CASES |= {   # issue 20: tune, runs, experiments --config, train --log
    'tune: --storage not a database URL': (lambda d, w: _tune(d, w, '--storage', 'nosuchdb://x'),
                                           "--storage: 'nosuchdb://x' is not a database URL Optuna can use"),
    'tune: --storage SQLite in no folder': (lambda d, w: _tune(d, w, '--storage', f'sqlite:///{w}/nowhere/s.db'), 'is not a writable folder'),
    'tune: --space missing': (lambda d, w: ['tune', '--data', str(d), '--cache', str(w / 'c'), '--out', str(w / 'o'), '--space',
                                            str(w / 'nope.toml')], 'nope.toml: cannot be read'),
    'tune: --space not TOML': (lambda d, w: _tune(d, w, space='[search\n'), 'space.toml: not TOML'),
    'tune: unknown argument in the space': (lambda d, w: _tune(d, w, space='[search]\nlrr = [1, 2]\n'),
                                            "[search] 'lrr' is not a training argument"),
    'tune: impossible range': (lambda d, w: _tune(d, w, space='[search]\nlr = {low = 0.1, high = 0.01}\n'),
                               '[search] lr: low 0.1 must be below high 0.01'),
    'tune: range outside the schema': (lambda d, w: _tune(d, w, space='[search]\nlr = {low = 1e-3, high = 2}\n'),
                                       '[search] lr: must be in (0, 1], got 2'),
    'tune: searched and fixed on the command line': (lambda d, w: _tune(d, w, '--fp32', space='[search]\nprecision = ["auto", "fp32"]\n'),
                                                     "['precision'] fixed here but searched"),
    'tune: unknown --arch in the space': (lambda d, w: _tune(d, w, space=_SPACE.replace('test_efficientnet', 'nope')),
                                          "'nope' is not a body for 8 input"),
    'tune: --n-trials 0': (lambda d, w: _tune(d, w, '--n-trials', '0'), 'argument --n-trials: must be at least 1'),
    'runs: no such folder': (lambda d, w: ['runs', str(w / 'nowhere')], 'nowhere: no such folder'),
    'runs: a folder holding no runs': (lambda d, w: ['runs', str(_folder(w, 'empty'))], 'holds no run folder (no models.json'),
    'runs: an unreadable models.json': (lambda d, w: (_folder(w, 'bad', ()), _file(w / 'bad', 'models.json', '{'), ['runs', str(w)])[-1],
                                        'not a readable run manifest'),
    'runs: --sort an unknown column': (lambda d, w: ['runs', str(_run_folder(w, {'epochs': 99})), '--sort', 'nope'], "--sort: no column 'nope'"),
    'runs: --plot is a folder': (lambda d, w: ['runs', str(_run_folder(w, {})), '--plot', str(_folder(w, 'pics', ()))], '--plot: '),
    'runs: --plot without a finished fold': (lambda d, w: ['runs', str(_run_folder(w, {})), '--plot', str(w / 'c.png')],
                                             '--plot: the runs hold no finished fold'),
    'runs: --solution missing': (lambda d, w: ['runs', str(_run_folder(w, {})), '--solution', str(w / 'nope.csv')], 'nope.csv: file not found'),
    'experiments: --config an unknown field': (lambda d, w: _experiments(d, w, '--config', str(_file(w, 'c.toml', '[x]\nepoch = 3\n'))),
                                               "[x]: unknown field(s) ['epoch'] of a train config"),
    'experiments: --config missing': (lambda d, w: _experiments(d, w, '--config', str(w / 'nope.toml')), 'nope.toml: cannot be read'),
    'train: --log bogus': (lambda d, w: _train(d, w, '--log', 'wandb'), 'argument --log: invalid choice'),
}

@pytest.mark.parametrize('case', CASES)
def test_refused_with_one_line_and_nothing_written(case, data, tmp_path, capsys):
    make, wanted, keeps = (*CASES[case], ())[:3]
    args = make(data, tmp_path)
    before, data_before = _snapshot(tmp_path), _snapshot(data)
    try: code = main(args)
    except SystemExit as e: code = e.code                    # argparse's own refusals
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert all(w in err[0] for w in ([wanted] if isinstance(wanted, str) else wanted)) and 'Traceback' not in err[0], err[0]
    after = {p: v for p, v in _snapshot(tmp_path).items() if p not in before and Path(p).parts[0] in keeps}
    assert {p: v for p, v in _snapshot(tmp_path).items() if p not in after} == before and _snapshot(data) == data_before


def test_the_matrix_covers_every_subcommand():
    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert {c.split(':')[0] for c in CASES} == set(commands) and len(CASES) >= 4 * len(commands)
