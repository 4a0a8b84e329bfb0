"""The one schema of training arguments: its checks, and every place that takes training arguments agreeing with it."""
import argparse
import inspect
import json
from dataclasses import fields
from pathlib import Path

import pytest

from hms_fastai.cli import parser
from hms_fastai.core.errors import HMSDataError
from hms_fastai.core.train_args import TrainArgs

FIELDS = {f.name: f.default for f in fields(TrainArgs)}


@pytest.mark.parametrize('change,message', [
    (dict(epochs=0), 'epochs: must be at least 1, got 0'), (dict(lr=0), r'lr: must be in \(0, 1\], got 0'),
    (dict(flip=1.5), r'flip: must be in \[0, 1\]'), (dict(jitter=float('nan')), 'jitter: must be at least 0, got nan'),
    (dict(windows='middle'), r"windows: must be one of \['centre', 'random'\]"), (dict(bs=2.5), 'bs: expected int, got 2.5'),
    (dict(vote_weight=1), 'vote_weight: expected bool'), (dict(channels='spec_XX'), r"channels: unknown channel\(s\) \['spec_XX'\]"),
    (dict(folds=3, folds_used=[3]), r'folds_used: \[3\] must be below folds=3'), (dict(precision='fp8'), 'precision: must be one of'),
    (dict(kind=None), 'kind: must be given'), (dict(targets='row'), r"targets: must be one of \['eeg', 'window'\]"),
    (dict(targets='window', pseudo='first_round'), "targets: 'window' trains on each label window's own votes; pseudo-labels are per eeg")])
def test_every_value_is_checked(change, message):
    with pytest.raises(HMSDataError, match=message): TrainArgs(**change)


def test_values_are_normalised_and_recorded_as_json():
    a = TrainArgs(channels='spec', lr=1, folds_used=[0, 2], pretrained=Path('w.pth'))
    assert a.channels == ('spec_LL', 'spec_RL', 'spec_LP', 'spec_RP') and a.lr == 1.0 and a.folds_used == (0, 2)
    assert a.pretrained == 'w.pth' and TrainArgs(pretrained='none').pretrained is False and TrainArgs(channels='all').channels is None
    assert TrainArgs(**json.loads(json.dumps(a.record()))) == a
    assert TrainArgs.split(a, epochs=3, lin_ftrs=[8]) == (a.replace(epochs=3), {'lin_ftrs': [8]})
    with pytest.raises(TypeError, match=r"unknown training argument\(s\) \['epoch'\]"): a.replace(epoch=3)


def _subparser(name: str) -> argparse.ArgumentParser:
    return next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)).choices[name]


def test_the_cli_flags_are_the_schema():
    train = _subparser('train')
    flags = {a.option_strings[0]: a for a in train._actions if a.option_strings}
    for name, default in FIELDS.items():
        flag = flags[f'--{name.replace("_", "-")}']
        assert flag.dest == name and flag.default == default, name
    ns = parser().parse_args(['train', '--data', 'd', '--cache', 'c', '--out', 'o'])
    assert {k: getattr(ns, k) for k in FIELDS} == FIELDS                  # nothing given: the schema's defaults
    ns = parser().parse_args(['train', '--data', 'd', '--cache', 'c', '--out', 'o', '--channels', 'eeg', '--folds-used', '0,1',
                              '--fp32', '--vote-weight', '--lr', '1e-3'])
    assert TrainArgs(**{k: getattr(ns, k) for k in FIELDS}) == TrainArgs(channels='eeg', folds_used=(0, 1), precision='fp32',
                                                                        vote_weight=True, lr=1e-3)


def test_configs_and_functions_take_every_field_with_its_default():
    from hms_fastai.experiments.configs import CONFIGS, TrainConfig
    from hms_fastai.learn.launch import train_run
    from hms_fastai.learn.recipes import train_fold, train_folds
    assert {k: getattr(TrainConfig(), k) for k in FIELDS} == FIELDS and isinstance(CONFIGS['resnet34d_8ch'], TrainArgs)
    assert CONFIGS['resnet34d_8ch'].train_args(seed=0) == TrainArgs()       # the registry's plain config: the schema's run
    for function in (train_folds, train_run):
        params = inspect.signature(function).parameters
        assert {k: params[k].default for k in FIELDS} == FIELDS, function.__name__
    fold_params = inspect.signature(train_fold).parameters
    assert {k: fold_params[k].default for k in FIELDS if k in fold_params} == {k: FIELDS[k] for k in fold_params if k in FIELDS}


def test_the_notebook_reads_the_schema_and_writes_no_default_again():
    nb = json.loads((Path(__file__).resolve().parents[2] / 'nbs' / '01_train.ipynb').read_text())
    code = '\n'.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code')
    assert 'args = h.TrainArgs(**TRAIN)' in code and 'h.train_folds(table, store, OUT, args)' in code
    assert not [v for v in ("'resnet34d'", '5e-3', 'EPOCHS', 'N_FOLDS') if v in code]
