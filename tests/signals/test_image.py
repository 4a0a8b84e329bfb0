"""Tests for hms_fastai.image: the Kaggle half equals the seed's per-region recipe; stacking and channel lookup."""
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hms_fastai.core.constants import CHANNELS, SPEC_COLUMNS
from hms_fastai.signals.image import channel_index, image_channels, spec_image, spec_row

REAL = Path(__file__).resolve().parents[3] / 'shared' / 'hms_real_sample'
TRAIN_SPECS = ['1000086677', '1000189855', '353733']


def seed_image(spec: np.ndarray, r: int) -> np.ndarray:
    """The seed notebook's loop, transcribed region by region (channels first); short files padded with NaN."""
    if len(spec) < r + 300: spec = np.vstack([spec, np.full((r + 300 - len(spec), 400), np.nan, spec.dtype)])
    X = np.zeros((4, 128, 256), np.float32)
    for k in range(4):
        img = spec[r:r + 300, k * 100:(k + 1) * 100].T
        img = np.clip(img, np.exp(-4), np.exp(8))
        img = np.log(img)
        ep = 1e-6
        with warnings.catch_warnings():  # all-NaN regions warn in the seed too
            warnings.simplefilter('ignore', RuntimeWarning)
            m = np.nanmean(img.flatten())
            s = np.nanstd(img.flatten())
        img = (img - m) / (s + ep)
        img = np.nan_to_num(img, nan=0.0)
        X[k, 14:-14, :] = img[:, 22:-22] / 2.0
    return X


def read_spec(path: Path) -> np.ndarray:
    """A real spectrogram parquet's 400 value columns, `time` dropped."""
    df = pd.read_parquet(path)
    assert list(df.columns[1:]) == SPEC_COLUMNS
    return df.drop(columns='time').to_numpy()


@pytest.fixture(scope='module')
def synth() -> np.ndarray:
    """A random log-normal spectrogram of 330 rows, float32 like the files."""
    return np.random.default_rng(0).lognormal(0.5, 2.0, (330, 400)).astype(np.float32)


def need_real():
    """Skip when the real sample folder is not beside the repo."""
    if not REAL.is_dir(): pytest.skip(f'real HMS sample files not found at {REAL}')


def test_spec_row():
    assert spec_row(0) == 0
    assert spec_row((10 + 30) / 2) == 10          # the centre of min 10 s and max 30 s: int((min + max) // 4)
    assert spec_row((7.0 + 10.0) / 2) == 4
    assert spec_row(9.0) == 4 and spec_row(10.0) == 5 and isinstance(spec_row(7.0), int)


@pytest.mark.parametrize('row', [0, 13, 30])
def test_synthetic_matches_seed(synth, row):
    np.testing.assert_allclose(spec_image(synth, row), seed_image(synth, row), rtol=1e-6, atol=1e-6)


def test_shape_dtype_and_empty_rows(synth):
    img = spec_image(synth, 5)
    assert img.shape == (4, 128, 256) and img.dtype == np.float32
    assert not img[:, :14].any() and not img[:, 114:].any()
    placed = img[:, 14:114]  # standardised then halved: per region mean ~0, std ~0.5
    np.testing.assert_allclose(placed.mean(axis=(1, 2)), 0, atol=0.05)
    np.testing.assert_allclose(placed.std(axis=(1, 2)), 0.5, atol=0.05)


@pytest.mark.parametrize('sid', TRAIN_SPECS)
def test_real_train_matches_seed(sid):
    need_real()
    spec = read_spec(REAL / 'train_spectrograms' / f'{sid}.parquet')
    for row in sorted({0, (len(spec) - 300) // 2, len(spec) - 300}):
        np.testing.assert_allclose(spec_image(spec, row), seed_image(spec, row), rtol=1e-6, atol=1e-6)


def test_real_nan_rows_inside_crop():
    need_real()
    spec = read_spec(REAL / 'train_spectrograms' / '1000086677.parquet')
    nan_rows = np.isnan(spec).all(1)
    assert nan_rows.sum() == 26 and nan_rows[:150].sum() == 26
    img = spec_image(spec, 0)
    assert np.isfinite(img).all()
    cols = np.flatnonzero(nan_rows) - 22  # time columns of the image that came from all-NaN rows
    assert not img[:, 14:114, cols[cols >= 0]].any()


def test_real_test_spectrogram():
    need_real()
    spec = read_spec(REAL / 'test_spectrograms' / '853520.parquet')
    np.testing.assert_allclose(spec_image(spec, 0), seed_image(spec, 0), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('n,row', [(250, 0), (330, 300), (330, 329), (10, 400)])
def test_short_file_is_nan_padded(synth, n, row):
    spec = synth[:n]
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        img = spec_image(spec, row)
    np.testing.assert_allclose(img, seed_image(spec, row), rtol=1e-6, atol=1e-6)
    pad = np.arange(256) + 22 >= n - row  # image time columns that lie past the end of the file
    assert not img[:, :, pad].any()


def test_all_nan_region_gives_zeros(synth):
    spec = synth.copy()
    spec[:, 200:300] = np.nan  # region LP
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        img = spec_image(spec, 0)
    assert not img[2].any() and img[[0, 1, 3]].any()
    np.testing.assert_allclose(img, seed_image(spec, 0), rtol=1e-6, atol=1e-6)


def test_spec_image_rejects_bad_input(synth):
    with pytest.raises(ValueError, match='SPEC_COLUMNS'): spec_image(synth[:, :399], 0)
    with pytest.raises(ValueError, match='row'): spec_image(synth, -1)


def test_image_channels():
    rng = np.random.default_rng(1)
    s, e = rng.normal(size=(2, 4, 128, 256))
    img = image_channels(s.astype(np.float32), e)
    assert img.shape == (8, 128, 256) and img.dtype == np.float32
    np.testing.assert_array_equal(img[channel_index(['spec_LL', 'spec_RP'])], s[[0, 3]].astype(np.float32))
    np.testing.assert_array_equal(img[channel_index(['eeg_RL', 'eeg_LP'])], e[[1, 2]].astype(np.float32))
    with pytest.raises(ValueError, match='eeg_img'): image_channels(s, e[:3])


def test_channel_index():
    assert channel_index(CHANNELS) == list(range(8))
    assert channel_index('eeg_LL') == [4]
    assert channel_index(['eeg_RP', 'spec_RL']) == [7, 1]
    with pytest.raises(ValueError, match='spec_XX'): channel_index(['spec_LL', 'spec_XX'])
