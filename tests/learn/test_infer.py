"""Offline inference: exported learners, deterministic TTA, ensembles, a fresh process, the real test layout, full-length
test recordings (test windows) and per-row predictions from test.csv offsets."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from hms_fastai.competition.io import read_eeg, read_spectrogram
from hms_fastai.competition.score import kaggle_score
from hms_fastai.core.constants import EEG_WINDOW, SPEC_COLUMNS, TARGETS
from hms_fastai.core.errors import HMSDataError
from hms_fastai.learn.data import hms_dls, hms_test_dl
from hms_fastai.learn.exports import export_learner, load_learners
from hms_fastai.learn.infer import predict, submit
from hms_fastai.learn.learner import hms_learner
from hms_fastai.signals.eegspec import eeg_image
from hms_fastai.signals.image import spec_image

TINY = 'test_efficientnet'


@pytest.fixture(scope='module')
def exported(fastai_data, tmp_path_factory):
    """Two tiny learners trained 2 epochs on fold 0 and exported."""
    train, _, table = fastai_data
    out = tmp_path_factory.mktemp('models')
    paths = []
    for seed in (0, 1):
        learn = hms_learner(hms_dls(table, train, fold=0, bs=8, seed=seed), TINY, seed=seed)
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(2, 1e-2)
        paths.append(export_learner(learn, out / f'fold{seed}.pkl'))       # → fold{seed}.json, the weights-only form
    return paths


MIRROR = [1, 0, 3, 2, 5, 4, 7, 6]   # CHANNELS spec_LL spec_RL spec_LP spec_RP eeg_LL eeg_RL eeg_LP eeg_RP, left ↔ right


def _probs(learn, images: np.ndarray) -> torch.Tensor:
    """Softmax of the learner's model on a stack of images, run by hand (no DataLoader, no callbacks)."""
    with torch.no_grad(): return torch.softmax(learn.model.eval()(torch.as_tensor(images)).float(), -1)


def test_tta_is_the_mean_of_plain_and_mirrored_images(exported, fastai_data):
    _, test, _ = fastai_data
    learn = load_learners(exported[0])[0]
    dl = hms_test_dl(learn.dls, test.table, test)
    tta = learn.tta(dl=dl)[0]
    images = test.images(test.table.eeg_id)
    plain, mirrored = _probs(learn, images), _probs(learn, images[:, MIRROR])
    torch.testing.assert_close(tta, (plain + mirrored) / 2, rtol=0, atol=1e-6)
    torch.testing.assert_close(learn.tta(dl=dl)[0], tta, rtol=0, atol=0)                  # deterministic
    torch.testing.assert_close(learn.tta(dl=dl, flip=False)[0], plain, rtol=0, atol=1e-6)
    assert not torch.allclose(plain, mirrored, atol=1e-4)                                  # the mirror is a real view
    with pytest.raises(TypeError, match='deterministic'): learn.tta(dl=dl, n=4)
    with pytest.raises(TypeError, match='deterministic'): learn.tta(dl=dl, beta=0.5)


def test_load_learners_refusals(tmp_path):
    with pytest.raises(HMSDataError, match=f'{tmp_path}: no models.json: not the folder of a finished'): load_learners(tmp_path)
    with pytest.raises(HMSDataError, match='exported learner not found'): load_learners(tmp_path / 'x.json')
    with pytest.raises(HMSDataError, match='a pickle runs code when loaded'): load_learners(tmp_path / 'x.pkl')


def test_predict_orders_by_test_csv_and_ensembles(exported, synth_root, tmp_path):
    test = pd.read_csv(synth_root / 'test.csv')
    one = predict(exported[:1], synth_root, tmp_path / 'cache')
    assert one.eeg_id.tolist() == test.eeg_id.tolist() and list(one.columns) == ['eeg_id', *TARGETS]
    np.testing.assert_allclose(one[TARGETS].sum(axis=1), 1, atol=1e-6)
    both = predict(exported, synth_root, tmp_path / 'cache')
    other = predict(exported[1:], synth_root, tmp_path / 'cache')
    np.testing.assert_allclose(both[TARGETS], (one[TARGETS] + other[TARGETS]) / 2, atol=1e-6)
    np.testing.assert_allclose(predict(exported, synth_root, tmp_path / 'cache', weights=[1, 0])[TARGETS], one[TARGETS], atol=1e-6)
    weighted = predict(exported, synth_root, tmp_path / 'cache', weights=[1, 3])[TARGETS].to_numpy()
    np.testing.assert_allclose(weighted, (one[TARGETS].to_numpy() + 3 * other[TARGETS].to_numpy()) / 4, atol=1e-6)
    assert not np.allclose(weighted, both[TARGETS], atol=1e-4)
    for bad in ([1], [1, -1], [0, 0], [1, float('nan')]):
        with pytest.raises(ValueError, match='weights must be 2 non-negative numbers'):
            predict(exported, synth_root, tmp_path / 'cache', weights=bad)


def test_fresh_process_reproduces_and_submission_round_trips(exported, synth_root, tmp_path):
    want = submit(exported, synth_root, tmp_path / 'cache', tmp_path / 'in_process.csv')
    code = ('import sys; from hms_fastai.learn.infer import submit; '
            f'submit(sys.argv[1:3], {str(synth_root)!r}, {str(tmp_path / "cache2")!r}, {str(tmp_path / "sub.csv")!r})')
    r = subprocess.run([sys.executable, '-c', code, *map(str, exported)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    got = pd.read_csv(tmp_path / 'sub.csv')
    np.testing.assert_allclose(got[TARGETS], want[TARGETS], atol=1e-6)
    sol = pd.read_csv(synth_root / 'test_solution.csv')
    assert kaggle_score(sol, got) == pytest.approx(kaggle_score(sol, want), abs=1e-6)


def test_real_test_layout(exported, real_root, tmp_path):
    sub = submit(exported, real_root, tmp_path / 'cache', tmp_path / 'submission.csv')
    back = pd.read_csv(tmp_path / 'submission.csv')
    sample = pd.read_csv(real_root / 'sample_submission.csv')
    assert list(back.columns) == list(sample.columns) and back.eeg_id.tolist() == sample.eeg_id.tolist() == [3911565283]
    # the same prediction by hand: the recipe's image of the real test files, each model on it and on its mirror
    test = pd.read_csv(real_root / 'test.csv').iloc[0]
    spec = read_spectrogram(real_root / 'test_spectrograms' / f'{test.spectrogram_id}.parquet')[SPEC_COLUMNS].to_numpy()
    eeg = read_eeg(real_root / 'test_eegs' / f'{test.eeg_id}.parquet').to_numpy()
    start = (len(eeg) - EEG_WINDOW) // 2
    image = np.concatenate([spec_image(spec, 0), eeg_image(eeg[start:start + EEG_WINDOW])])[None]
    want = np.mean([(_probs(m, image) + _probs(m, image[:, MIRROR])).numpy() / 2 for m in load_learners(exported)], axis=0)
    np.testing.assert_allclose(back[TARGETS].to_numpy(), want, atol=2e-4)   # the store keeps the EEG half in float16
    np.testing.assert_allclose(sub[TARGETS].to_numpy(), back[TARGETS].to_numpy(), atol=1e-12)


def _by_hand(learners, images: np.ndarray) -> np.ndarray:
    """The ensemble's flip-TTA probabilities of images, computed here."""
    return np.mean([(_probs(m, images) + _probs(m, images[:, MIRROR])).numpy() / 2 for m in learners], axis=0)


def test_full_length_test_recordings_are_predicted_from_the_chosen_windows(exported, mle_root, recipe, tmp_path):
    pub, one = mle_root / 'public', exported[:1]
    r, test = recipe(pub, 'test'), pd.read_csv(pub / 'test.csv')
    ids, centre = test.eeg_id.unique(), r.centre()
    with pytest.warns(UserWarning, match='gives no offsets'):
        got = {'centre': predict(one, pub, tmp_path / 'cache', test_windows='centre'),
               'all': submit(one, pub, tmp_path / 'cache', tmp_path / 's.csv')}           # the default, written per row
    assert got['all'].eeg_id.tolist() == test.eeg_id.tolist() and got['centre'].eeg_id.tolist() == ids.tolist()
    got['all'] = got['all'].drop_duplicates('eeg_id')
    assert len(got['all']) == len(ids)                                                     # each eeg's prediction on its rows
    learners = load_learners(one)
    want = {'centre': _by_hand(learners, np.stack([r.image(e, *centre.loc[e]) for e in ids])),
            'all': np.stack([_by_hand(learners, np.stack([r.image(e, s, t) for s, t in r.stride(e)])).mean(0) for e in ids])}
    for w in want: np.testing.assert_allclose(got[w][TARGETS].to_numpy(), want[w], atol=2e-4)   # centre half: float16 mels
    assert max(len(r.stride(e)) for e in ids) > 1 and not np.allclose(want['all'], want['centre'], atol=1e-3)
    with pytest.raises(HMSDataError, match="test_windows: must be one of"): predict(one, pub, tmp_path / 'cache', test_windows='middle')


def test_rows_with_offsets_are_predicted_each_from_its_own_window(exported, mle_offsets, recipe, tmp_path):
    root, test = mle_offsets
    got = predict(exported[:1], root, tmp_path / 'cache', test_windows='centre')    # rows with offsets: the option does not apply
    r = recipe(root, 'test')
    images = np.stack([r.image(t.eeg_id, t.spectrogram_label_offset_seconds, int(t.eeg_label_offset_seconds * 200))
                       for t in test.itertuples()])
    assert got.eeg_id.tolist() == test.eeg_id.tolist()
    np.testing.assert_allclose(got[TARGETS].to_numpy(), _by_hand(load_learners(exported[:1]), images), atol=2e-4)
    per_eeg = got.groupby('eeg_id')[TARGETS].nunique().max(axis=1)
    assert (per_eeg > 1).any()                                    # an eeg's rows differ: per-row predictions


def test_kaggle_layout_gives_the_same_file_for_every_test_window_choice(exported, synth_root, tmp_path):
    for w in ('centre', 'all'): submit(exported[:1], synth_root, tmp_path / 'cache', tmp_path / f'{w}.csv', test_windows=w)
    assert (tmp_path / 'centre.csv').read_bytes() == (tmp_path / 'all.csv').read_bytes()     # 50 s EEGs: one window
