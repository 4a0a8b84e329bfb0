"""Shared fixtures: tiny synthetic competition data and the real sample folder (skipped when absent)."""
from pathlib import Path

import pytest

REAL = Path(__file__).resolve().parents[2] / 'shared' / 'hms_real_sample'


@pytest.fixture(scope='session')
def real_root() -> Path:
    """The real competition sample files beside the checkout."""
    if not REAL.is_dir(): pytest.skip(f'{REAL} is absent (a fresh clone has no ../shared): real-format test skipped')
    return REAL


@pytest.fixture(scope='session')
def synth_root(tmp_path_factory) -> Path:
    """A tiny synthetic competition folder made once per session."""
    from hms_fastai.synth import make_synthetic
    return make_synthetic(tmp_path_factory.mktemp('synth'), n_eegs=24, n_test=6, seed=1)


@pytest.fixture(scope='session')
def fastai_data(synth_root, tmp_path_factory):
    """For the fastai tests: (train Store, test Store, train eeg table with 3 patient folds), prepared once."""
    from hms_fastai.meta import add_folds
    from hms_fastai.store import prepare
    cache = tmp_path_factory.mktemp('fastai_cache')
    train, test = prepare(synth_root, cache, 'train'), prepare(synth_root, cache, 'test')
    return train, test, add_folds(train.table, 3)
