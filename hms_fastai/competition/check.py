"""Validate a whole competition folder: tables, referenced files and, optionally, every parquet's contents."""
from ..core.progress import progress
from .io import Competition, load_competition, read_eeg, read_spectrogram
from .meta import eeg_table

__all__ = ['check_competition']


def check_competition(root, deep: bool = False) -> Competition:
    """Load and validate `root`; with `deep`, read every referenced parquet too (raises HMSDataError)."""
    comp = load_competition(root)
    eeg_table(comp.train, comp.root / 'train.csv')
    if deep:
        jobs = [(read_eeg, comp.eeg_path(i, 'train')) for i in comp.train.eeg_id.unique()]
        jobs += [(read_spectrogram, comp.spec_path(i, 'train')) for i in comp.train.spectrogram_id.unique()]
        jobs += [(read_eeg, comp.eeg_path(i, 'test')) for i in comp.test.eeg_id]
        jobs += [(read_spectrogram, comp.spec_path(i, 'test')) for i in comp.test.spectrogram_id]
        for read, path in progress(jobs, 'files read'): read(path)
    return comp
