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
