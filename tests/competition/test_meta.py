"""The eeg-level table and patient-grouped folds."""
import numpy as np
import pandas as pd
import pytest

from hms_fastai.competition.meta import add_folds, eeg_table, fold_table
from hms_fastai.core.constants import TARGETS
from hms_fastai.core.errors import HMSDataError


def test_real_head50_table(real_root):
    t = eeg_table(pd.read_csv(real_root / 'train_head50_reconstructed.csv')).set_index('eeg_id')
    assert len(t) == 12
    r = t.loc[1628180742]
    assert (r.spec_offset_min, r.spec_offset_max, r.eeg_offset_max, r.n_sub) == (0, 40, 40, 9)
    assert r[TARGETS].tolist() == [1, 0, 0, 0, 0, 0] and r.total_votes == 3 and not r.expert
    g = t.loc[2277392603]
    np.testing.assert_allclose(g[TARGETS].astype(float), [0, 0, 5 / 11, 0, 1 / 11, 5 / 11])
    assert g.total_votes == 11 and g.expert and g.expert_consensus == 'GPD'
    s = t.loc[1626798710]
    assert (s.spec_offset_min, s.spec_offset_max, s.eeg_offset_min, s.eeg_offset_max) == (74, 102, 0, 28)
    np.testing.assert_allclose(t[TARGETS].sum(axis=1), 1)


def test_votes_are_summed_over_sub_rows_before_normalising():
    train = pd.DataFrame({'eeg_id': [1, 1], 'spectrogram_id': [5, 5], 'spectrogram_label_offset_seconds': [0., 2.],
                          'eeg_label_offset_seconds': [0., 2.], 'patient_id': [9, 9], 'expert_consensus': ['Seizure'] * 2,
                          **{c: [0, 0] for c in TARGETS}})
    train['seizure_vote'] = [3, 0]
    train['other_vote'] = [0, 1]
    np.testing.assert_allclose(eeg_table(train).loc[0, TARGETS].astype(float), [0.75, 0, 0, 0, 0, 0.25])


def test_zero_votes_is_a_data_error():
    train = pd.DataFrame({'eeg_id': [7], 'spectrogram_id': [5], 'spectrogram_label_offset_seconds': [0.],
                          'eeg_label_offset_seconds': [0.], 'patient_id': [9], 'expert_consensus': ['Other'],
                          **{c: [0] for c in TARGETS}})
    with pytest.raises(HMSDataError, match=r'eeg_id\(s\) \[7\]'): eeg_table(train)


def test_folds_grouped_deterministic_balanced():
    rng = np.random.default_rng(0)
    t = pd.DataFrame({'eeg_id': np.arange(500), 'patient_id': rng.zipf(1.6, 500) % 97})
    a, b = add_folds(t, 5, seed=3), add_folds(t, 5, seed=3)
    assert (a.fold == b.fold).all() and sorted(a.fold.unique()) == list(range(5))
    assert a.groupby('patient_id').fold.nunique().max() == 1
    sizes = a.fold.value_counts()
    assert sizes.max() - sizes.min() <= t.patient_id.value_counts().max()
    assert not (add_folds(t, 5, seed=4).fold == a.fold).all()


def test_folds_do_not_depend_on_row_order():
    rng = np.random.default_rng(1)
    t = pd.DataFrame({'eeg_id': np.arange(300), 'patient_id': rng.integers(0, 120, 300)})   # many equal-sized patients
    a = add_folds(t, 5)
    for seed in range(3):
        shuffled = add_folds(t.sample(frac=1, random_state=seed), 5)
        assert (shuffled.set_index('eeg_id').fold.loc[a.eeg_id].to_numpy() == a.fold.to_numpy()).all()


def test_fold_table_is_sorted_by_eeg_and_grouped_by_patient(synth_root):
    from hms_fastai.competition.io import load_competition
    comp = load_competition(synth_root)
    t = fold_table(comp, 3)
    assert t.eeg_id.is_monotonic_increasing and t.groupby('patient_id').fold.nunique().max() == 1
    shuffled = comp.train.sample(frac=1, random_state=0)                      # train.csv's rows in another order
    comp.train = shuffled
    assert fold_table(comp, 3).equals(t)


def test_test_csv_table_starts_every_crop_at_zero():
    t = eeg_table(pd.DataFrame({'spectrogram_id': [853520], 'eeg_id': [3911565283], 'patient_id': [6885]}))
    assert t.loc[0, ['spec_offset_min', 'spec_offset_max', 'eeg_offset_min', 'eeg_offset_max']].tolist() == [0] * 4
