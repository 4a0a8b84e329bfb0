"""Tests for hms_fastai.plots: figures render to PNG with the right panels, labels and traces."""
import warnings

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from hms_fastai.core.constants import CHAINS, CHANNELS, EEG_COLUMNS
from hms_fastai.core.errors import HMSDataError
from hms_fastai.signals.plots import plot_eeg, show_image

PAIRS = [f'{a}-{b}' for r in ['LL', 'LP', 'RP', 'RL'] for a, b in zip(CHAINS[r][:-1], CHAINS[r][1:])]
IMAGE_TITLES = [f'{src} {r}' for src in ['Kaggle', 'EEG mel'] for r in ['LL', 'RL', 'LP', 'RP']]


@pytest.fixture
def eeg() -> np.ndarray:
    """60 s of independent random walks (so every bipolar pair has its own shape) plus a spiky EKG."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12000, 20)).cumsum(0).astype(np.float32)
    x[:, -1] = 1000 * (np.arange(12000) % 160 == 0)
    return x


def saved(fig, path, min_kb: int) -> None:
    """Save `fig` as PNG at `path`, check it is larger than `min_kb`, and close it."""
    fig.savefig(path, dpi=60)
    plt.close(fig)
    assert path.stat().st_size > min_kb * 1024
    assert not plt.get_fignums()  # nothing left registered with pyplot


def titles(fig) -> list[str]:
    """Titles of the figure's titled axes, in creation order."""
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


def test_show_image(tmp_path):
    img = np.random.default_rng(1).normal(size=(8, 128, 256)).astype(np.float32)
    fig = show_image(img, title='row 7')
    assert titles(fig) == IMAGE_TITLES and fig.get_suptitle() == 'row 7'
    assert len(fig.axes) == 9  # 8 panels and the shared colour bar
    assert all(ax.images[0].origin == 'lower' for ax in fig.axes[:8])
    saved(fig, tmp_path / 'image.png', 20)


def test_show_image_four_channels_torch(tmp_path):
    names = ['spec_LL', 'spec_RL', 'eeg_LL', 'eeg_RL']
    fig = show_image(torch.randn(4, 128, 256), channels=names)
    assert titles(fig) == ['Kaggle LL', 'Kaggle RL', 'EEG mel LL', 'EEG mel RL']
    saved(fig, tmp_path / 'image4.png', 10)
    assert titles(show_image(np.zeros((4, 128, 256)))) == IMAGE_TITLES[:4]


def test_show_image_into_given_axes():
    fig = plt.figure()
    axs = fig.subplots(2, 4)
    assert show_image(np.ones((8, 128, 256)), axs=axs) is fig
    assert [ax.get_title() for ax in axs.ravel()] == IMAGE_TITLES
    plt.close(fig)
    with pytest.raises(ValueError, match='names'): show_image(np.ones((8, 128, 256)), channels=CHANNELS[:4])


def test_plot_eeg_with_spectrogram(tmp_path, eeg):
    spec = np.random.default_rng(2).lognormal(0, 2, (300, 400)).astype(np.float32)
    fig = plot_eeg(eeg, spec, eeg_id=123, offset=5.0)
    montage = fig.axes[0]
    assert [t.get_text() for t in montage.get_yticklabels()] == [*PAIRS, 'EKG']
    assert titles(fig)[1:] == ['Kaggle LL', 'Kaggle LP', 'Kaggle RP', 'Kaggle RL']
    assert fig.get_suptitle() == 'EEG 123 at 5 s' and montage.get_xlabel() == 'time (s)'
    ekg = montage.get_lines()[-1].get_data()[1]  # sparse spikes still get a readable scale
    assert np.ptp(ekg) == pytest.approx(1.0)
    saved(fig, tmp_path / 'eeg_spec.png', 100)


def test_plot_eeg_traces_follow_the_montage(eeg):
    fig = plot_eeg(eeg, offset=5.0, title='mine')
    assert fig.get_suptitle() == 'mine'
    lines = fig.axes[0].get_lines()
    col = {c: i for i, c in enumerate(EEG_COLUMNS)}
    window = eeg[1000:11000]
    for line, pair in zip(lines, PAIRS + ['EKG']):
        a, _, b = pair.partition('-')
        want = window[:, col[a]] - window[:, col[b]] if b else window[:, col[a]]
        t, y = line.get_data()
        assert t[0] == 5.0 and t[-1] == pytest.approx(55.0 - 1 / 200) and len(y) == 10000
        assert np.corrcoef(y, want)[0, 1] == pytest.approx(1.0)
    plt.close(fig)


def test_plot_eeg_tolerates_nan(tmp_path, eeg):
    eeg[2000:4000, :5] = np.nan
    eeg[:, EEG_COLUMNS.index('O2')] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        fig = plot_eeg(eeg[:10000])
        ys = [line.get_data()[1] for line in fig.axes[0].get_lines()[:16]]
        saved(fig, tmp_path / 'eeg_nan.png', 50)
    assert fig.get_suptitle() == 'EEG at 0 s'
    o2 = [p.endswith('-O2') for p in PAIRS]
    assert all(np.isnan(y).all() for y, o in zip(ys, o2) if o)
    assert all(np.isfinite(y).sum() >= 8000 for y, o in zip(ys, o2) if not o)


def test_plot_eeg_rejects_bad_input(eeg):
    with pytest.raises(HMSDataError, match='^7: .*50 s window at 15 s'): plot_eeg(eeg, eeg_id=7, offset=15)
    with pytest.raises(HMSDataError, match='^eeg: EEG must be'): plot_eeg(eeg[:, :19])
    with pytest.raises(ValueError, match='SPEC_COLUMNS'): plot_eeg(eeg, np.ones((300, 100)))
