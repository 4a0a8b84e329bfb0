"""Configs as TOML files: the registry written out and read back equal, every field checked, and a file's config training
the same run as the registry's."""
import json
import tomllib

import pytest

from hms_fastai.cli import main
from hms_fastai.core.errors import HMSDataError
from hms_fastai.experiments.config_files import configs_toml, read_configs
from hms_fastai.experiments.configs import CONFIGS, TrainConfig

pytestmark = pytest.mark.usefixtures('one_thread')   # tiny models on one torch thread


def test_the_registry_round_trips_through_toml(tmp_path):
    path = tmp_path / 'registry.toml'
    path.write_text(configs_toml(CONFIGS))
    back = read_configs(path)
    assert back == CONFIGS and list(back) == list(CONFIGS) and all(type(back[n]) is type(c) for n, c in CONFIGS.items())
    tables = tomllib.loads(path.read_text())
    assert tables['raw_eeg_1d'] == {'type': 'train', 'kind': 'signal', 'about': CONFIGS['raw_eeg_1d'].about}
    assert [m.get('seed_offset', 0) for m in tables['resnet34d_ens6']['members']] == [0, 1, 2] * 2


@pytest.mark.parametrize('text,message', [
    ('[x]\nepoch = 3', "[x]: unknown field(s) ['epoch'] of a train config"),
    ('[x]\ntype = "bogus"', "[x]: type 'bogus' is not one of ['train'"),
    ('[x]\nepochs = 0', '[x]: epochs: must be at least 1, got 0'),
    ('[x]\nchannels = "spec_XX"', "[x]: channels: unknown channel(s) ['spec_XX']"),
    ('[x]\ntype = "blend"\nfitted = "yes"', "[x]: fitted: expected <class 'bool'>, got 'yes'"),
    ('[x]\ntype = "tabular"\nlayers = [200, "a"]', "[x]: layers: expected tuple[int, ...], got [200, 'a']"),
    ('[x]\ntype = "ensemble"\n[[x.members]]\nlrr = 1', "[x] members[0]: unknown field(s) ['lrr'] of a train config"),
    ('x = 1', '[x]: must be a table of config fields, got 1'),
    ('', 'defines no config'),
    ('[x', 'not TOML'),
])
def test_a_bad_config_file_is_refused_naming_the_config_and_field(tmp_path, text, message):
    path = tmp_path / 'c.toml'
    path.write_text(text)
    with pytest.raises(HMSDataError) as e: read_configs(path)
    assert str(e.value).startswith(str(path)) and message in str(e.value) and '\n' not in str(e.value)


def test_a_toml_config_equal_to_a_registry_entry_trains_the_same_run(synth_root, tmp_path):
    small = dict(arch='test_efficientnet', epochs=1, epochs2=0, bs=8, folds_used=(0,))      # the registry's, made small
    registry = {'resnet34d_spec': CONFIGS['resnet34d_spec'].overridden(**small)}
    path = tmp_path / 'configs.toml'
    path.write_text(configs_toml(registry))
    common = ['--data', str(synth_root), '--cache', str(tmp_path / 'cache'), '--folds', '2']
    assert main(['experiments', *common, '--out', str(tmp_path / 'file'), '--config', str(path)]) == 0
    from hms_fastai.experiments.runners import run_experiments
    run_experiments(synth_root, tmp_path / 'cache', tmp_path / 'registry', configs=registry, n_folds=2)
    runs = [json.loads((tmp_path / out / 'resnet34d_spec' / 'models.json').read_text())['run'] for out in ('file', 'registry')]
    assert runs[0] == runs[1] and runs[0]['channels'] == list(TrainConfig(channels='spec').channels) and runs[0]['epochs'] == 1
