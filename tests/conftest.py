"""Shared fixtures: tiny synthetic competition data and the real sample folder (skipped when absent)."""
import warnings
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
def mle_root(tmp_path_factory) -> Path:
    """A tiny synthetic competition with per-window truth in MLE-bench's layout (public/, private/), made once per session."""
    from hms_fastai.competition.synth import make_synthetic
    return make_synthetic(tmp_path_factory.mktemp('mle'), n_eegs=40, seed=3, truth='window', layout='mlebench')


@pytest.fixture
def mle_offsets(mle_root, tmp_path) -> tuple[Path, pd.DataFrame]:
    """MLE-bench's public test side whose test.csv also gives each row's offsets (from the answers): (folder, test.csv)."""
    import shutil
    root = tmp_path / 'data'
    shutil.copytree(mle_root / 'public', root, ignore=shutil.ignore_patterns('train_*'))
    answers = pd.read_csv(mle_root / 'private' / 'test.csv')
    test = pd.read_csv(root / 'test.csv').assign(eeg_label_offset_seconds=answers.eeg_label_offset_seconds,
                                                 spectrogram_label_offset_seconds=answers.spectrogram_label_offset_seconds)
    test.to_csv(root / 'test.csv', index=False)
    return root, test


@pytest.fixture(scope='session')
def fastai_data(synth_root, tmp_path_factory):
    """For the fastai tests: (train Store, test Store, train eeg table with 3 patient folds), prepared once."""
    from hms_fastai.competition.meta import add_folds
    from hms_fastai.signals.prepare import prepare
    cache = tmp_path_factory.mktemp('fastai_cache')
    train, test = prepare(synth_root, cache, 'train'), prepare(synth_root, cache, 'test')
    return train, test, add_folds(train.table, 3)


def seed_spec_image(spec: np.ndarray, r: int) -> np.ndarray:
    """The seed notebook's Kaggle half, transcribed region by region (channels first); short files padded with NaN."""
    if len(spec) < r + 300: spec = np.vstack([spec, np.full((r + 300 - len(spec), 400), np.nan, spec.dtype)])
    X = np.zeros((4, 128, 256), np.float32)
    for k in range(4):
        img = np.log(np.clip(spec[r:r + 300, k * 100:(k + 1) * 100].T, np.exp(-4), np.exp(8)))
        with warnings.catch_warnings():  # all-NaN regions warn in the seed too
            warnings.simplefilter('ignore', RuntimeWarning)
            m, s = np.nanmean(img.flatten()), np.nanstd(img.flatten())
        X[k, 14:-14, :] = np.nan_to_num((img - m) / (s + 1e-6), nan=0.0)[:, 22:-22] / 2.0
    return X


class Recipe:
    """The seed's images computed from a competition folder with pandas and the seed's code, not the package's store:
    windows from train.csv's offsets, the crop's first row int(offset // 2) as the seed's int((min + max) // 4)."""
    # The store keeps 16 bits a value: the Kaggle half from float16 spectrogram rows moves by at most 2^-11 in log power
    # (measured ≤ 2.3e-4 on the synthetic and the real sample files); the stored centre mels are float16 (≤ 2.4e-4);
    # mels made on the fly from the int16 chains (random windows) move by ≤ 2.5e-3 (the real files; 2.2e-3 synthetic).
    SPEC_ATOL, MEL_ATOL = 5e-4, 5e-3

    def __init__(self, root: Path, split: str = 'train'):
        self.root, self.split = Path(root), split
        self.csv = pd.read_csv(self.root / f'{split}.csv')

    def _spec(self, sid) -> pd.DataFrame:
        return pd.read_parquet(self.root / f'{self.split}_spectrograms' / f'{sid}.parquet')

    def _eeg(self, eeg_id) -> np.ndarray:
        return pd.read_parquet(self.root / f'{self.split}_eegs' / f'{eeg_id}.parquet').to_numpy(np.float32)

    def _aligned(self, eeg_id, eeg_start) -> float:
        """A test window's crop start without offsets: as many seconds into the spectrogram as its EEG is into the EEG
        file (the package's stated assumption), moved back to keep the 600 s crop inside the spectrogram."""
        last = max(2 * (len(self._spec(self._sid(eeg_id))) - 300), 0)
        return float(min(max(eeg_start / 200, 0), last))

    def centre(self) -> pd.DataFrame:
        """Per eeg_id: spec_s (the mean of the min and max spectrogram offset) and eeg_start (likewise, in samples); a test
        csv without offsets: the EEG's middle 50 s and its aligned crop."""
        if self.split == 'test' and 'eeg_label_offset_seconds' not in self.csv:
            ids = self.csv.eeg_id.unique()
            start = [(len(self._eeg(e)) - 10_000) // 2 for e in ids]
            return pd.DataFrame({'spec_s': [self._aligned(e, t) for e, t in zip(ids, start)], 'eeg_start': start}, index=ids)
        g = self.csv.groupby('eeg_id')
        spec_s = (g.spectrogram_label_offset_seconds.min() + g.spectrogram_label_offset_seconds.max()) / 2
        eeg_s = (g.eeg_label_offset_seconds.min() + g.eeg_label_offset_seconds.max()) / 2
        return pd.DataFrame({'spec_s': spec_s, 'eeg_start': (eeg_s * 200).astype(int)})

    def windows(self, eeg_id) -> list[tuple]:
        """The eeg's distinct label windows (spec_s, eeg_start) in train.csv."""
        rows = self.csv[self.csv.eeg_id == eeg_id]
        return sorted(set(zip(rows.spectrogram_label_offset_seconds, (rows.eeg_label_offset_seconds * 200).astype(int))))

    def stride(self, eeg_id) -> list[tuple]:
        """A test eeg's windows for test_windows='all': EEG starts every 10 s and the one ending at the file's end, aligned crops."""
        n = len(self._eeg(eeg_id))
        starts = sorted(set(range(0, n - 10_000 + 1, 2_000)) | {n - 10_000})
        return [(self._aligned(eeg_id, t), t) for t in starts]

    def _sid(self, eeg_id) -> int:
        return int(self.csv.loc[self.csv.eeg_id == eeg_id, 'spectrogram_id'].iloc[0])

    def image(self, eeg_id, spec_s: float, eeg_start: int) -> np.ndarray:
        """The (8, 128, 256) image of the window whose crop starts at `spec_s` s and whose EEG starts at sample `eeg_start`."""
        from hms_fastai.signals.eegspec import eeg_image  # checked against librosa in tests/signals/test_eegspec.py
        spec = self._spec(self._sid(eeg_id))
        row = int(spec_s // 2)                                   # 2 s rows; the seed: int((min + max) // 4)
        eeg_start = int(eeg_start)
        eeg = self._eeg(eeg_id)[eeg_start:eeg_start + 10_000]
        assert len(eeg) == 10_000, (eeg_id, eeg_start)
        return np.concatenate([seed_spec_image(spec.drop(columns='time').to_numpy(), row), eeg_image(eeg)])


    @staticmethod
    def assert_close(got: np.ndarray, want: np.ndarray, eeg_atol: float = 1e-3):
        """The Kaggle half within SPEC_ATOL of the seed's, the EEG half within `eeg_atol` (1e-3: stored centre mels)."""
        np.testing.assert_allclose(got[:4], want[:4], rtol=0, atol=Recipe.SPEC_ATOL)
        np.testing.assert_allclose(got[4:], want[4:], rtol=0, atol=eeg_atol)

    @staticmethod
    def distance(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
        """Largest absolute differences of the Kaggle half and of the EEG half."""
        return float(np.abs(got[:4] - want[:4]).max()), float(np.abs(got[4:] - want[4:]).max())


@pytest.fixture(scope='session')
def recipe():
    """`recipe(root, split='train')`: a Recipe of that folder."""
    return Recipe


@pytest.fixture(scope='module')
def one_thread():
    """One torch thread for tiny models: on a busy 2-core machine two threads wait on each other (~10× slower)."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
