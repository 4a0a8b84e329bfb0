"""Shared fixtures: tiny synthetic competition data and the real sample folder (skipped when absent)."""
from pathlib import Path

import numpy as np
import pandas as pd
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
    from hms_fastai.competition.synth import make_synthetic
    return make_synthetic(tmp_path_factory.mktemp('synth'), n_eegs=24, n_test=6, seed=1)


@pytest.fixture(scope='session')
def fastai_data(synth_root, tmp_path_factory):
    """For the fastai tests: (train Store, test Store, train eeg table with 3 patient folds), prepared once."""
    from hms_fastai.competition.meta import add_folds
    from hms_fastai.signals.prepare import prepare
    cache = tmp_path_factory.mktemp('fastai_cache')
    train, test = prepare(synth_root, cache, 'train'), prepare(synth_root, cache, 'test')
    return train, test, add_folds(train.table, 3)


def _centre_windows(root: Path) -> pd.DataFrame:
    """Per train eeg_id, from root's train.csv and spectrogram files alone (none of the package's code): the centre
    window's spectrogram crop row (the first row whose `time` reaches the mean of the min and max spectrogram offset)
    and EEG start sample (the mean of the min and max EEG offset, at 200 Hz)."""
    g = pd.read_csv(root / 'train.csv').groupby('eeg_id')
    spec_s = (g.spectrogram_label_offset_seconds.min() + g.spectrogram_label_offset_seconds.max()) / 2
    eeg_s = (g.eeg_label_offset_seconds.min() + g.eeg_label_offset_seconds.max()) / 2
    sid = g.spectrogram_id.first()
    time = {s: pd.read_parquet(root / 'train_spectrograms' / f'{s}.parquet', columns=['time']).time.to_numpy() for s in set(sid)}
    rows = [int(np.searchsorted(time[s], t)) for s, t in zip(sid, spec_s)]
    return pd.DataFrame({'spectrogram_id': sid, 'spec_row': rows, 'eeg_start': (eeg_s * 200).astype(int)})


@pytest.fixture(scope='session')
def centre_windows():
    """`centre_windows(root)`: the centre window of each train eeg_id, derived independently of the code under test."""
    return _centre_windows
