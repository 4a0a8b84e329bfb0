"""Validate a whole competition folder: tables, referenced files and, optionally, every parquet's contents."""
from ..core.errors import HMSDataError
from ..core.progress import progress
from .io import Competition, load_competition, read_eeg, read_spectrogram
from .meta import eeg_table

__all__ = ['check_competition', 'CHECK_SPLITS']

CHECK_SPLITS = ('all', 'train', 'test')


def check_competition(root,
                      deep: bool = False,     # read every referenced parquet file too
                      split: str = 'all',     # 'train', 'test' or 'all': which part of the folder to check
                      ) -> Competition:
    """Load and validate `root` (its train part, test part or both); with `deep`, read every referenced parquet too."""
    if split not in CHECK_SPLITS: raise HMSDataError('split', f'must be one of {list(CHECK_SPLITS)}, got {split!r}')
    comp = load_competition(root, train=split != 'test', test=split != 'train')
    jobs = []
    if comp.train is not None:
        eeg_table(comp.train, comp.root / 'train.csv')
        jobs += [(read_eeg, comp.eeg_path(i, 'train')) for i in comp.train.eeg_id.unique()]
        jobs += [(read_spectrogram, comp.spec_path(i, 'train')) for i in comp.train.spectrogram_id.unique()]
    if comp.test is not None:
        jobs += [(read_eeg, comp.eeg_path(i, 'test')) for i in comp.test.eeg_id.unique()]
        jobs += [(read_spectrogram, comp.spec_path(i, 'test')) for i in comp.test.spectrogram_id.unique()]
    if deep:
        for read, path in progress(jobs, 'files read'): read(path)
    return comp
