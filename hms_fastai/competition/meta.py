"""The eeg-level table: one row per eeg_id with crop offsets, vote fractions, expert flag and fold."""
import numpy as np
import pandas as pd

from ..core.constants import TARGETS
from ..core.errors import HMSDataError, show_ids
from ..core.train_args import SEED, TrainArgs
from .io import OFFSET_COLUMNS

__all__ = ['eeg_table', 'add_folds', 'fold_table', 'pseudo_label', 'EXPERT_VOTES']

EXPERT_VOTES = 10


_OFFSETS = OFFSET_COLUMNS


def _check_labels(train: pd.DataFrame, where):
    """HMSDataError naming the eeg_ids with missing or negative votes or offsets."""
    for cols, what in ((TARGETS, 'votes'), ([c for c in _OFFSETS if c in train], 'label offsets')):
        v = train[cols].to_numpy(np.float64)
        for bad, how in ((np.isnan(v), 'missing (NaN)'), (v < 0, 'negative')):
            ids = train.eeg_id[bad.any(axis=1)]
            if len(ids): raise HMSDataError(where, f'eeg_id(s) {show_ids(sorted(set(ids)))} have {how} {what}')


def eeg_table(train: pd.DataFrame, where='train.csv') -> pd.DataFrame:
    """One row per eeg_id: offsets' min/max, patient, vote fractions (summed, normalised), total_votes, expert."""
    if not set(TARGETS) <= set(train.columns): return _test_eeg_table(train)
    _check_labels(train, where)
    sub_votes = train[TARGETS].sum(axis=1)
    zero = train.loc[sub_votes == 0, 'eeg_id']
    if len(zero): raise HMSDataError(where, f'eeg_id(s) {show_ids(sorted(set(zero)))} have rows whose votes sum to 0')
    g = train.assign(_votes=sub_votes).groupby('eeg_id', sort=False)
    t = g.agg(spectrogram_id=('spectrogram_id', 'first'),
              spec_offset_min=('spectrogram_label_offset_seconds', 'min'),
              spec_offset_max=('spectrogram_label_offset_seconds', 'max'),
              eeg_offset_min=('eeg_label_offset_seconds', 'min'),
              eeg_offset_max=('eeg_label_offset_seconds', 'max'),
              patient_id=('patient_id', 'first'),
              expert_consensus=('expert_consensus', 'first'),
              total_votes=('_votes', 'max'),
              n_sub=('_votes', 'size'))
    votes = g[TARGETS].sum()
    t[TARGETS] = votes.div(votes.sum(axis=1), axis=0).to_numpy()
    t['expert'] = t.total_votes >= EXPERT_VOTES
    return t.reset_index()


def _test_eeg_table(test: pd.DataFrame) -> pd.DataFrame:
    """The test csv as an eeg-level table, one row per eeg_id: its offsets' min/max where test.csv gives them, else 0."""
    t = test.assign(**{c: test[c].astype(float) if c in test else 0.0 for c in _OFFSETS})
    return t.groupby('eeg_id', sort=False).agg(
        spectrogram_id=('spectrogram_id', 'first'), patient_id=('patient_id', 'first'),
        spec_offset_min=('spectrogram_label_offset_seconds', 'min'), spec_offset_max=('spectrogram_label_offset_seconds', 'max'),
        eeg_offset_min=('eeg_label_offset_seconds', 'min'), eeg_offset_max=('eeg_label_offset_seconds', 'max')).reset_index()


def add_folds(table: pd.DataFrame, n_folds: int = 5, seed: int = SEED) -> pd.DataFrame:
    """Add a `fold` column: patient-grouped, balanced by rows (largest patients first), the same for any row order."""
    if table.patient_id.nunique() < n_folds:
        raise HMSDataError('train.csv', f'{table.patient_id.nunique()} patients cannot fill {n_folds} folds')
    sizes = table.patient_id.value_counts().sort_index()                    # by patient id: row order never matters
    shuffled = sizes.iloc[np.random.default_rng(seed).permutation(len(sizes))]  # the seed breaks ties between equal sizes
    load, fold_of = np.zeros(n_folds, int), {}
    for p, n in shuffled.sort_values(ascending=False, kind='stable').items():
        f = int(np.argmin(load))
        fold_of[p] = f
        load[f] += n
    return table.assign(fold=table.patient_id.map(fold_of).astype(int))


def fold_table(comp, n_folds: int = 5, seed: int = SEED) -> pd.DataFrame:
    """The training table of a Competition: one row per eeg (sorted by eeg_id) with its patient-grouped `fold`."""
    table = eeg_table(comp.train, comp.root / 'train.csv').sort_values('eeg_id', kind='stable').reset_index(drop=True)
    return add_folds(table, n_folds, seed)


def pseudo_label(table: pd.DataFrame, preds: pd.DataFrame, below: int = TrainArgs.pseudo_below,
                 keep: float = TrainArgs.pseudo_keep) -> pd.DataFrame:
    """`table` with the votes of rows with fewer than `below` votes replaced by keep·votes + (1 − keep)·preds (8th place)."""
    if not 0 <= keep <= 1: raise ValueError(f'keep must be in [0, 1], got {keep}')
    p = preds.set_index('eeg_id')[TARGETS]
    low = (table['total_votes'] < below).to_numpy()
    missing = sorted(set(table.eeg_id[low]) - set(p.index))
    if missing: raise HMSDataError('preds', f'no prediction for eeg_id(s) {show_ids(missing)} to relabel')
    out = table.copy()
    out.loc[low, TARGETS] = keep * table.loc[low, TARGETS].to_numpy() + (1 - keep) * p.loc[table.eeg_id[low]].to_numpy()
    return out.assign(pseudo=low)
