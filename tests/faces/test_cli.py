"""The hms-fastai command: subcommands, the score alone on the last line, one-line errors with exit code 2."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import argparse

from hms_fastai.cli import main, parser
from hms_fastai.competition.io import load_competition
from hms_fastai.competition.meta import fold_table
from hms_fastai.competition.score import kaggle_score
from hms_fastai.core.constants import TARGETS


def test_synth_then_score_prints_score_last(tmp_path, capsys):
    assert main(['synth', '--out', str(tmp_path / 'd'), '--n-eegs', '6', '--n-test', '3', '--seed', '2']) == 0
    sol = tmp_path / 'd' / 'test_solution.csv'
    assert main(['score', '--solution', str(sol), '--submission', str(tmp_path / 'd' / 'test_oracle.csv')]) == 0
    oracle = kaggle_score(pd.read_csv(sol), pd.read_csv(tmp_path / 'd' / 'test_oracle.csv'))
    assert capsys.readouterr().out.strip().splitlines()[-1] == f'{oracle:.6f}'
    assert main(['score', '--solution', str(sol), '--submission', str(sol)]) == 0
    assert float(capsys.readouterr().out.strip().splitlines()[-1]) == 0


@pytest.mark.parametrize('mutate,msg', [
    (lambda s: s.iloc[1:], 'eeg_ids differ'),
    (lambda s: s.assign(lpd_vote=float('nan')), 'non-finite'),
])
def test_score_bad_submission_exits_2_with_one_line(tmp_path, capsys, mutate, msg):
    sol = pd.DataFrame({'eeg_id': [1, 2], **{c: [1 / 6, 1 / 6] for c in TARGETS}})
    sol.to_csv(tmp_path / 'sol.csv', index=False)
    mutate(sol).to_csv(tmp_path / 'sub.csv', index=False)
    assert main(['score', '--solution', str(tmp_path / 'sol.csv'), '--submission', str(tmp_path / 'sub.csv')]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and msg in err[0] and 'submission' in err[0]


def test_console_script_exit_code_and_no_traceback(tmp_path):
    r = subprocess.run([sys.executable, '-m', 'hms_fastai.cli', 'check', '--data', str(tmp_path / 'nowhere')],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().count('\n') == 0 and 'competition folder not found' in r.stderr
    assert subprocess.run([sys.executable, '-m', 'hms_fastai.cli', 'prepare', '--help'], capture_output=True).returncode == 0


def test_check_a_good_folder(synth_root, capsys):
    assert main(['check', '--data', str(synth_root), '--deep']) == 0
    train = pd.read_csv(synth_root / 'train.csv')
    assert capsys.readouterr().out.endswith(f'{synth_root}: {len(train)} train rows, {train.eeg_id.nunique()} train eegs, '
                                            f'{len(pd.read_csv(synth_root / "test.csv"))} test eegs: ok\n')


def test_prepare_both_splits(synth_root, tmp_path, capsys):
    for split, n in (('train', 24), ('test', 6)):
        assert main(['prepare', '--data', str(synth_root), '--cache', str(tmp_path), '--split', split, '--parts', 'spec']) == 0
        out = capsys.readouterr().out
        assert f"Store('{tmp_path}', '{split}', {n} eegs, channels=['spec_LL', 'spec_RL', 'spec_LP', 'spec_RP']): ready\n" in out
        assert (tmp_path / split / 'index.parquet').is_file() and not list((tmp_path / split).glob('mel_*'))


def test_train_then_predict(synth_root, tmp_path, capsys):
    models, cache = tmp_path / 'models', tmp_path / 'cache'
    args = ['train', '--data', str(synth_root), '--cache', str(cache), '--out', str(models), '--arch', 'test_efficientnet',
            '--epochs', '1', '--epochs2', '0', '--folds', '2', '--bs', '4', '--channels', 'spec']
    assert main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    oof = pd.read_csv(models / 'oof.csv')
    folds = fold_table(load_competition(synth_root), 2).set_index('eeg_id').fold             # the notebooks' folds too
    assert oof.set_index('eeg_id').fold.sort_index().equals(folds.sort_index())
    truth = pd.read_csv(synth_root / 'train.csv').groupby('eeg_id')[TARGETS].sum()
    truth = truth.div(truth.sum(1), axis=0).loc[oof.eeg_id]
    p = np.clip(oof[TARGETS].to_numpy(), 1e-15, 1)
    kl = np.where(truth > 0, truth * np.log(truth / p), 0).sum(1).mean()
    assert lines[-3] == f'OOF KL (all rows):    {kl:.4f}' and {'fold0.json', 'fold1.json', 'models.json'} <= {p.name for p in models.iterdir()}
    rows = pd.read_csv(synth_root / 'train.csv')                          # each label row weighs 1, against its own votes
    y = rows[TARGETS].to_numpy() / rows[TARGETS].to_numpy().sum(1, keepdims=True)
    p = np.clip(oof.set_index('eeg_id').loc[rows.eeg_id, TARGETS].to_numpy(), 1e-15, 1)
    assert lines[-1] == f'OOF KL (label rows):  {np.where(y > 0, y * np.log(y / p), 0).sum(1).mean():.4f}'
    assert main(['predict', '--data', str(synth_root), '--cache', str(cache), '--models', str(models),
                 '--out', str(tmp_path / 'sub.csv')]) == 0
    assert capsys.readouterr().out.endswith(f'wrote {tmp_path / "sub.csv"}: 6 rows\n')
    sub = pd.read_csv(tmp_path / 'sub.csv')
    assert sub.eeg_id.tolist() == pd.read_csv(synth_root / 'test.csv').eeg_id.tolist()
    np.testing.assert_allclose(sub[TARGETS].sum(1), 1, atol=1e-9)
    assert main(['predict', '--data', str(synth_root), '--cache', str(cache), '--models', str(models),
                 '--out', str(tmp_path / 'sub1.csv'), '--bs', '1']) == 0                  # one eeg per batch: the same
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / 'sub1.csv'), sub, rtol=1e-5)


def test_demo_end_to_end(tmp_path, capsys):
    assert main(['demo', '--out', str(tmp_path), '--n-eegs', '30', '--n-test', '4', '--arch', 'test_efficientnet', '--bs', '8',
                 '--epochs', '1', '--epochs2', '0']) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == f'lower is better; kept in {tmp_path}: results.md/.csv, history.csv, learning_curves.png, compare.png, submission.csv'
    table = out[-6:-1]
    assert table[0].split() == ['system', 'test', 'KL'] and len(table) == 5
    scores = {' '.join(l.split()[:-1]): float(l.split()[-1]) for l in table[1:]}
    assert set(scores) == {'uniform 1/6', 'train prior', 'test_efficientnet + flip TTA', 'oracle (true probabilities)'}
    sol, sub = pd.read_csv(tmp_path / 'data' / 'test_solution.csv'), pd.read_csv(tmp_path / 'submission.csv')
    assert scores['test_efficientnet + flip TTA'] == pytest.approx(kaggle_score(sol, sub), abs=1e-4)
    assert scores['uniform 1/6'] == pytest.approx(kaggle_score(sol, sol.assign(**{t: 1 / 6 for t in TARGETS})), abs=1e-4)
    kept = pd.read_csv(tmp_path / 'results.csv').set_index('system')['test KL']
    assert kept.to_dict() == pytest.approx(scores, abs=1e-4) and '| system | test KL |' in (tmp_path / 'results.md').read_text()
    history = pd.read_csv(tmp_path / 'history.csv')
    assert list(history.columns) == ['epoch', 'train_loss', 'valid_loss', 'kl_expert', 'kept', 'stage'] and history.kept.sum() == 1
    assert all((tmp_path / f).stat().st_size > 10_000 for f in ('learning_curves.png', 'compare.png'))
    assert not (Path.cwd() / 'models').exists()                                  # no stray fastai models/ folder


def test_bare_command_help_and_version(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith('usage: hms-fastai') and 'examples:' in out and 'hms-fastai demo --quick' in out
    with pytest.raises(SystemExit) as e: main(['--version'])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f'hms-fastai {__import__("hms_fastai").__version__}'


def test_every_option_explains_itself():
    p = parser()
    commands = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        assert sub.description and name in {c.dest for c in commands._choices_actions}, name
        for action in sub._actions:
            if action.option_strings and action.dest != 'help':
                assert action.help, (name, action.dest)
        assert '%(default)' not in sub.format_help()
    text = commands.choices['train'].format_help()
    assert '--epochs EPOCHS       stage 1: epochs on all training rows (default: 8)' in text


def test_signal_kind_vote_weights_pseudo_blend_weights_and_pickles_through_the_cli(synth_root, tmp_path, capsys):
    cache = tmp_path / 'cache'
    base = ['train', '--data', str(synth_root), '--cache', str(cache), '--epochs', '1', '--epochs2', '0', '--folds', '2', '--bs', '4']
    image = [*base, '--arch', 'test_efficientnet', '--channels', 'spec']
    assert main([*image, '--out', str(tmp_path / 'img'), '--fp32']) == 0
    assert main([*base, '--out', str(tmp_path / 'sig'), '--kind', 'signal', '--vote-weight']) == 0
    assert main([*image, '--out', str(tmp_path / 'pseudo'), '--pseudo', str(tmp_path / 'img'), '--pseudo-keep', '0.3', '--targets', 'eeg']) == 0
    run = {n: json.loads((tmp_path / n / 'models.json').read_text())['run'] for n in ('img', 'sig', 'pseudo')}
    assert run['img']['precision'] == 'fp32' and run['sig']['kind'] == 'signal' and run['sig']['vote_weight']
    assert run['pseudo']['pseudo'] == str(tmp_path / 'img') and run['pseudo']['pseudo_keep'] == 0.3
    assert json.loads((tmp_path / 'sig' / 'fold0.json').read_text())['arch'] == 'xresnet1d18'
    oofs = [str(tmp_path / n / 'oof.csv') for n in ('img', 'sig')]
    assert main(['blend', *oofs, '--data', str(synth_root), '--out', str(tmp_path / 'w.json'), '--on', 'all']) == 0
    weights = json.loads((tmp_path / 'w.json').read_text())['weights']

    def sub(name: str, *models_and_flags, tta: bool = False) -> pd.DataFrame:
        assert main(['predict', '--data', str(synth_root), '--cache', str(cache), '--out', str(tmp_path / name),
                     *([] if tta else ['--no-tta']), '--models', *models_and_flags]) == 0
        return pd.read_csv(tmp_path / name).set_index('eeg_id')[TARGETS]
    img, sig = sub('img.csv', str(tmp_path / 'img')), sub('sig.csv', str(tmp_path / 'sig'))
    blended = sub('blend.csv', str(tmp_path / 'img'), str(tmp_path / 'sig'), '--weights', str(tmp_path / 'w.json'))
    want = weights[str(tmp_path / 'img')] * img + weights[str(tmp_path / 'sig')] * sig
    np.testing.assert_allclose(blended, want.div(want.sum(1), axis=0), atol=1e-6)
    np.testing.assert_allclose(sub('pkl.csv', str(tmp_path / 'img'), '--trust-pickle'), img, atol=1e-6)   # the pickles agree
    flipped = sub('tta.csv', str(tmp_path / 'img'), tta=True)                                            # the flip too
    assert not np.allclose(flipped, img, atol=1e-6)
