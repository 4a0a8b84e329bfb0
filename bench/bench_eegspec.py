"""Benchmark: `eeg_mels` (batched torch, CPU) against the seed's per-pair librosa loop on the same synthetic EEGs."""
import argparse
import time

import librosa
import numpy as np
import torch
from threadpoolctl import threadpool_limits  # installed with librosa (via scikit-learn)

from hms_fastai.core.constants import CHAINS, EEG_COLUMNS, EEG_RATE, EEG_WINDOW, REGIONS
from hms_fastai.signals.eegspec import eeg_mels


def synthetic_eegs(n: int, seed: int = 0) -> np.ndarray:
    """`n` (10000, 20) float32 EEGs: per-channel sine mixtures plus noise, a few NaN stretches."""
    rng = np.random.default_rng(seed)
    t = np.arange(EEG_WINDOW) / EEG_RATE
    freqs, amps = rng.uniform(0.5, 25, (n, 3, 1, 20)), rng.uniform(5, 60, (n, 3, 1, 20))
    x = (amps * np.sin(2 * np.pi * freqs * t[:, None] + rng.uniform(0, 6, (n, 3, 1, 20)))).sum(1)
    x = (x + rng.normal(0, 8, x.shape)).astype(np.float32)
    x[::7, 3000:3500, 2] = np.nan
    return x


def librosa_image(eeg: np.ndarray) -> np.ndarray:
    """The seed's `spectrogram_from_eeg`, channels first: (4, 128, 256)."""
    img = np.zeros((4, 128, 256), np.float32)
    for k, r in enumerate(REGIONS):
        for a, b in zip(CHAINS[r], CHAINS[r][1:]):
            x = eeg[:, EEG_COLUMNS.index(a)] - eeg[:, EEG_COLUMNS.index(b)]
            x = np.nan_to_num(x, nan=np.nanmean(x)) if np.isnan(x).mean() < 1 else np.zeros_like(x)
            mel = librosa.feature.melspectrogram(y=x, sr=EEG_RATE, hop_length=len(x) // 256, n_fft=1024, n_mels=128,
                                                 fmin=0, fmax=20, win_length=128)
            img[k] += (librosa.power_to_db(mel, ref=np.max).astype(np.float32)[:, :256] + 40) / 40
    return img / 4


def best_times(fs: dict, repeat: int) -> tuple:
    """Fastest wall time of each function in `fs` over `repeat` interleaved rounds (so both meet the same load), and the last results."""
    best, out = dict.fromkeys(fs, float('inf')), {}
    for _ in range(repeat):
        for name, f in fs.items():
            t0 = time.perf_counter(); out[name] = f(); best[name] = min(best[name], time.perf_counter() - t0)
    return best, out


def main():
    """Time both on the same EEGs in one run; print the times, the ratio and the largest difference."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--n', type=int, default=64, help='number of EEGs')
    p.add_argument('--bs', type=int, default=64, help='eeg_mels batch size')
    p.add_argument('--repeat', type=int, default=3, help='timed repeats; the fastest counts')
    p.add_argument('--threads', type=int, default=0, help='torch CPU threads (0: torch default)')
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    x = synthetic_eegs(a.n)
    xt = torch.from_numpy(x)
    eeg_mels(xt[:a.bs])  # warm-up: kernels built and cached
    def loop():  # one BLAS thread: per-pair matrices are tiny, and a second, spinning thread made the loop 3× slower under load
        with threadpool_limits(1): return [librosa_image(e) for e in x]
    t, out = best_times({'eeg_mels': lambda: [eeg_mels(b) for b in xt.split(a.bs)], 'librosa': loop}, a.repeat)
    print(f'{a.n} EEGs, batch {a.bs}, torch threads {torch.get_num_threads()}, best of {a.repeat}')
    print(f"librosa loop: {t['librosa']:.3f} s   eeg_mels: {t['eeg_mels']:.3f} s   ratio: {t['librosa'] / t['eeg_mels']:.1f}x")
    print(f"max |difference|: {np.abs(torch.cat(out['eeg_mels']).numpy() - np.stack(out['librosa'])).max():.2e}")


if __name__ == '__main__':
    main()
