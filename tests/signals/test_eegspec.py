"""Tests for hms_fastai.eegspec: the batched torch mel images equal the seed's librosa loop on real and synthetic EEGs."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from threadpoolctl import threadpool_limits  # installed with librosa (via scikit-learn)

from hms_fastai.core.constants import CHAINS, EEG_COLUMNS, EEG_WINDOW, REGIONS
from hms_fastai.signals.eegspec import eeg_image, eeg_mels, mel_filters

librosa = pytest.importorskip('librosa')
REAL = Path(__file__).resolve().parents[3] / 'shared' / 'hms_real_sample'
TOL = 1e-3


def seed_image(eeg: np.ndarray) -> np.ndarray:
    """The seed's `spectrogram_from_eeg` (Chris Deotte), pair by pair with librosa, channels first: (4, 128, 256)."""
    img = np.zeros((4, 128, 256), np.float32)
    for k, region in enumerate(REGIONS):
        chain = CHAINS[region]
        for a, b in zip(chain, chain[1:]):
            x = eeg[:, EEG_COLUMNS.index(a)] - eeg[:, EEG_COLUMNS.index(b)]
            if np.isnan(x).mean() < 1: x = np.nan_to_num(x, nan=np.nanmean(x))
            else: x[:] = 0
            mel = librosa.feature.melspectrogram(y=x, sr=200, hop_length=len(x) // 256, n_fft=1024, n_mels=128,
                                                 fmin=0, fmax=20, win_length=128)
            width = (mel.shape[1] // 32) * 32
            db = librosa.power_to_db(mel, ref=np.max).astype(np.float32)[:, :width]
            img[k] += (db + 40) / 40
    return img / 4


def synthetic_eegs(n: int, seed: int = 0) -> np.ndarray:
    """`n` (10000, 20) float32 EEGs: per-channel mixtures of three sines (0.5-25 Hz) plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(EEG_WINDOW) / 200
    freqs, amps = rng.uniform(0.5, 25, (n, 3, 1, 20)), rng.uniform(5, 60, (n, 3, 1, 20))
    x = (amps * np.sin(2 * np.pi * freqs * t[:, None] + rng.uniform(0, 6, (n, 3, 1, 20)))).sum(1)
    return (x + rng.normal(0, 8, x.shape)).astype(np.float32)


def check_matches_seed(x: np.ndarray):
    """`eeg_mels` of the batch `x` is within TOL of the seed's loop, sample by sample."""
    ours = eeg_mels(torch.from_numpy(x)).numpy()
    with threadpool_limits(1, 'blas'):  # librosa's tiny matmuls: a second, spinning BLAS thread was 3× slower on a busy box
        seed = [seed_image(eeg) for eeg in x]
    for i in range(len(x)):
        err = np.abs(ours[i] - seed[i]).max()
        assert err < TOL, f'sample {i}: max |difference| {err:.2e}'


@pytest.fixture(scope='module')
def real_windows() -> np.ndarray:
    """10,000-sample windows of every real EEG: the middle one, the last one of longer train files, the test file."""
    if not REAL.is_dir(): pytest.skip(f'{REAL} is absent (a fresh clone has no ../shared): real-EEG test skipped')
    out = []
    for path in sorted(REAL.glob('t*_eegs/*.parquet')):
        eeg = pd.read_parquet(path)[EEG_COLUMNS].to_numpy(np.float32)
        starts = {(len(eeg) - EEG_WINDOW) // 2, len(eeg) - EEG_WINDOW}
        out += [eeg[s:s + EEG_WINDOW] for s in sorted(starts)]
    assert out, f'no EEG parquet files under {REAL}'
    return np.stack(out)


def test_mel_filters_equal_librosa():
    np.testing.assert_allclose(mel_filters(), librosa.filters.mel(sr=200, n_fft=1024, n_mels=128, fmin=0, fmax=20),
                               rtol=1e-6, atol=0)


def test_real_eegs_match_seed(real_windows):
    check_matches_seed(real_windows)


def test_synthetic_eegs_match_seed():
    check_matches_seed(synthetic_eegs(3))


def test_nan_stretches_and_all_nan_channels_match_seed():
    x = synthetic_eegs(3, seed=1)
    x[0, 1000:2500, EEG_COLUMNS.index('Fp1')] = np.nan       # a stretch in a channel of two chains
    x[0, 7000:7100, EEG_COLUMNS.index('P4')] = np.nan
    x[1, :, EEG_COLUMNS.index('T3')] = np.nan                 # two all-NaN differences in LL
    x[2] = np.nan                                             # every difference all NaN
    check_matches_seed(x)
    ours = eeg_mels(torch.from_numpy(x)).numpy()
    assert np.isfinite(ours).all()
    assert (ours[2] == 1).all(), 'an all-zero difference is 0 dB everywhere, i.e. (0 + 40) / 40'


def test_top_db_and_amin_floors_match_seed():
    t = np.arange(EEG_WINDOW) / 200
    sine = (np.arange(1, 21) * 10 * np.sin(2 * np.pi * t[:, None])).astype(np.float32)  # far bins < -80 dB
    assert (seed_image(sine) <= -0.999).mean() > 0.05, 'the top_db floor should cover part of the image'
    check_matches_seed(np.stack([sine, synthetic_eegs(1, seed=6)[0] * 1e-7]))       # tiny powers meet amin


@pytest.mark.parametrize('chunk', [2, 5, 64])
def test_batched_passes_equal_one_by_one_and_the_seed(chunk):
    x = synthetic_eegs(5, seed=2)
    x[3, 2000:2600, EEG_COLUMNS.index('C3')] = np.nan                  # a NaN stretch in one sample of a batched pass
    one_by_one = torch.cat([eeg_mels(torch.from_numpy(x[i:i + 1]), chunk=1) for i in range(len(x))])
    batched = eeg_mels(torch.from_numpy(x), chunk=chunk)                  # the path CUDA takes, here on the CPU
    torch.testing.assert_close(batched, one_by_one, rtol=0, atol=1e-5)
    for i in (0, 3): np.testing.assert_allclose(batched[i].numpy(), seed_image(x[i]), rtol=0, atol=TOL)


def test_eeg_image_equals_eeg_mels():
    x = synthetic_eegs(1, seed=3)
    read_only = x[0].view()
    read_only.flags.writeable = False  # as pyarrow hands arrays out: no "non-writable tensor" warning
    img = eeg_image(read_only)
    assert img.shape == (4, 128, 256) and img.dtype == np.float32
    np.testing.assert_array_equal(img, eeg_mels(torch.from_numpy(x))[0].numpy())


def test_shape_dtype_and_float64_input():
    x = torch.from_numpy(synthetic_eegs(2, seed=4))
    out = eeg_mels(x)
    assert out.shape == (2, 4, 128, 256) and out.dtype == torch.float32 and out.device == x.device
    out64 = eeg_mels(x.double())
    assert out64.dtype == torch.float32
    torch.testing.assert_close(out64, out, rtol=0, atol=1e-4)
    assert -1 - 1e-6 <= out.min() and out.max() <= 1 + 1e-6


def test_bad_shape_raises():
    with pytest.raises(ValueError, match='EEG_COLUMNS'): eeg_mels(torch.zeros(1, EEG_WINDOW, 19))
    with pytest.raises(ValueError, match='EEG_COLUMNS'): eeg_mels(torch.zeros(EEG_WINDOW, 20))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device on this machine')
def test_cuda_matches_cpu():
    x = torch.from_numpy(synthetic_eegs(3, seed=5))
    out = eeg_mels(x.cuda())
    assert out.device.type == 'cuda' and out.dtype == torch.float32
    torch.testing.assert_close(out.cpu(), eeg_mels(x), rtol=0, atol=1e-4)
