"""Read and validate the competition's files: EEG and spectrogram parquet, the csv tables."""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..core.constants import EEG_COLUMNS, EEG_RATE, EEG_WINDOW, SPEC_COLUMNS, SPEC_STEP, TARGETS
from ..core.errors import HMSDataError, check_same_ids, show_ids

__all__ = ['parquet_file', 'read_eeg', 'read_spectrogram', 'read_csv', 'load_competition', 'Competition',
           'TRAIN_COLUMNS', 'TEST_COLUMNS', 'OFFSET_COLUMNS']

TRAIN_COLUMNS = ['eeg_id', 'eeg_sub_id', 'eeg_label_offset_seconds', 'spectrogram_id',
                 'spectrogram_sub_id', 'spectrogram_label_offset_seconds', 'label_id', 'patient_id',
                 'expert_consensus', *TARGETS]
TEST_COLUMNS = ['spectrogram_id', 'eeg_id', 'patient_id']
OFFSET_COLUMNS = ['eeg_label_offset_seconds', 'spectrogram_label_offset_seconds']   # in train.csv; in test.csv when given
_ID_COLUMNS = ['eeg_id', 'spectrogram_id', 'patient_id']


def _check_file(path: Path, what: str):
    """HMSDataError unless `path` is a file: 'file not found', or a folder standing where the file should be."""
    if path.is_dir(): raise HMSDataError(path, f'is a folder, not a {what} file')
    if not path.is_file(): raise HMSDataError(path, 'file not found')


def parquet_file(path, read: bool = False) -> pq.ParquetFile | pa.Table:
    """A parquet file opened (its footer: `.metadata.num_rows`) or, with `read`, read whole; HMSDataError if missing or unreadable."""
    path = Path(path)
    _check_file(path, 'parquet')
    try: return pq.read_table(path) if read else pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise HMSDataError(path, f'not a readable parquet file ({type(e).__name__}: {e})') from None


def _check_columns(path, names: list, expected: list):
    """Raise naming the missing, unknown or misordered columns of a file."""
    if names == expected: return
    missing = [c for c in expected if c not in names]
    extra = [c for c in names if c not in expected]
    if missing: raise HMSDataError(path, f'missing column(s) {missing[:5]}{" …" if len(missing) > 5 else ""}')
    if extra: raise HMSDataError(path, f'unknown column(s) {extra[:5]}{" …" if len(extra) > 5 else ""}')
    raise HMSDataError(path, 'columns are not in the competition order')


def _float_values(path, table: pa.Table, names: list) -> np.ndarray:
    """The named columns as one float32 (rows, columns) array, ±inf read as missing (NaN); non-float columns are an error."""
    bad = [(n, str(table.schema.field(n).type)) for n in names if not pa.types.is_floating(table.schema.field(n).type)]
    if bad: raise HMSDataError(path, f'column {bad[0][0]!r} has dtype {bad[0][1]}, expected float32')
    values = np.stack([table.column(n).to_numpy().astype(np.float32, copy=False) for n in names], axis=1)
    values[np.isinf(values)] = np.nan        # an overflowed sample carries no value: a gap, as the files' NaN runs are
    return values


def read_eeg(path) -> pd.DataFrame:
    """Read one EEG parquet: 20 float32 columns at 200 Hz, a whole number of seconds, at least 50 s; ±inf → NaN."""
    table = parquet_file(path, read=True)
    _check_columns(path, table.schema.names, EEG_COLUMNS)
    values = _float_values(path, table, EEG_COLUMNS)
    n = len(values)
    if n % EEG_RATE: raise HMSDataError(path, f'{n} rows is not a whole number of seconds at {EEG_RATE} Hz')
    if n < EEG_WINDOW: raise HMSDataError(path, f'{n / EEG_RATE:g} s long, shorter than the 50 s window')
    return pd.DataFrame(values, columns=EEG_COLUMNS)


def read_spectrogram(path) -> pd.DataFrame:
    """Read one spectrogram parquet: integer `time` in 2 s steps, then the 400 float32 value columns; ±inf → NaN."""
    table = parquet_file(path, read=True)
    _check_columns(path, table.schema.names, ['time', *SPEC_COLUMNS])
    ttype = table.schema.field('time').type
    if not pa.types.is_integer(ttype): raise HMSDataError(path, f"column 'time' has dtype {ttype}, expected int16 or int64")
    time = table.column('time').to_numpy()
    if len(time) == 0: raise HMSDataError(path, 'no rows')
    steps = np.diff(time)
    if (steps != SPEC_STEP).any():
        i = int(np.argmax(steps != SPEC_STEP))
        raise HMSDataError(path, f'time steps must be {SPEC_STEP} s, found {time[i]} → {time[i + 1]}')
    df = pd.DataFrame(_float_values(path, table, SPEC_COLUMNS), columns=SPEC_COLUMNS)
    df.insert(0, 'time', time)
    return df


def read_csv(path, columns: list) -> pd.DataFrame:
    """Read a competition csv, checking that it has `columns` (extra columns are kept)."""
    path = Path(path)
    _check_file(path, 'csv')
    try: df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise HMSDataError(path, f'not a readable csv ({e})') from None
    missing = [c for c in columns if c not in df.columns]
    if missing: raise HMSDataError(path, f'missing column(s) {missing}')
    if df.empty: raise HMSDataError(path, 'no rows')
    for c in columns:
        if c in _ID_COLUMNS and not pd.api.types.is_integer_dtype(df[c]):
            raise HMSDataError(path, f'column {c!r} must hold integer ids, found dtype {df[c].dtype}')
        if c in TARGETS and not pd.api.types.is_numeric_dtype(df[c]):
            raise HMSDataError(path, f'column {c!r} must be numeric, found dtype {df[c].dtype}')
    return df


def _check_files(folder: Path, ids, what: str):
    """Raise listing every id whose parquet file is missing from `folder`, or is a folder rather than a file."""
    entries = list(folder.glob('*.parquet')) if folder.is_dir() else []
    present = {p.stem for p in entries if p.is_file()}
    missing = sorted({int(i) for i in ids if str(int(i)) not in present})
    folders = [i for i in missing if (folder / f'{i}.parquet').is_dir()]
    if folders:
        raise HMSDataError(folder, f'{len(folders)} {what} path(s) are folders, not parquet files: {show_ids(folders, 20)[1:-1]}')
    if missing:
        raise HMSDataError(folder, f'{len(missing)} {what} file(s) missing: {show_ids(missing, 20)[1:-1]}')


@dataclass
class Competition:
    """The competition folder: validated train/test tables, the sample submission and file paths (None: not loaded)."""
    root: Path
    train: pd.DataFrame | None
    test: pd.DataFrame | None
    sample_submission: pd.DataFrame | None

    def eeg_path(self, eeg_id: int, split: str = 'train') -> Path:
        """Path of an EEG parquet of `split`."""
        return self.root / f'{split}_eegs' / f'{int(eeg_id)}.parquet'

    def spec_path(self, spectrogram_id: int, split: str = 'train') -> Path:
        """Path of a spectrogram parquet of `split`."""
        return self.root / f'{split}_spectrograms' / f'{int(spectrogram_id)}.parquet'


def _check_one_recording(where: Path, rows: pd.DataFrame):
    """Rows of one eeg_id (label windows) name one spectrogram and one patient."""
    for col in ['spectrogram_id', 'patient_id']:
        n = rows.groupby('eeg_id', sort=False)[col].nunique()
        if (n > 1).any(): raise HMSDataError(where, f'eeg_id(s) {show_ids(n.index[n > 1])} have more than one {col}')


def _check_test(root: Path, test: pd.DataFrame):
    """test.csv: eeg_ids may repeat (one row per label window, as in MLE-bench), but each names one recording and patient."""
    where = root / 'test.csv'
    _check_one_recording(where, test)
    given = [c for c in OFFSET_COLUMNS if c in test]
    if len(given) == 1:       # a row's window needs both: where its EEG starts and where its spectrogram crop starts
        missing = (set(OFFSET_COLUMNS) - set(given)).pop()
        raise HMSDataError(where, f'gives {given[0]} but not {missing}: give both offset columns or neither')
    for col in given:
        v = pd.to_numeric(test[col], errors='coerce').to_numpy(np.float64)
        bad = ~np.isfinite(v) | (v < 0)
        if bad.any(): raise HMSDataError(where, f'eeg_id(s) {show_ids(test.eeg_id[bad].unique())} have a missing, '
                                                f'non-numeric or negative {col}')


def _check_sample(root: Path, test: pd.DataFrame, sample: pd.DataFrame):
    """sample_submission.csv holds test.csv's rows: as many, the same eeg_id on each, in the same order."""
    where, want, got = root / 'sample_submission.csv', test.eeg_id.to_numpy(), sample.eeg_id.to_numpy()
    check_same_ids(want, got, where, 'test.csv')
    a, b = pd.Series(want).value_counts(), pd.Series(got).value_counts()
    ids = sorted(i for i in a.index if a[i] != b[i])
    if ids: raise HMSDataError(where, f'eeg_id(s) {show_ids(ids)} occur a different number of times than in test.csv '
                                      f'({len(got)} rows here, {len(want)} there)')
    off = np.flatnonzero(got != want)
    if len(off): raise HMSDataError(where, f'rows are not in test.csv\'s order: row {off[0] + 1} has eeg_id {got[off[0]]}, '
                                           f'test.csv has {want[off[0]]}')


def load_competition(root,
                     train: bool = True,          # read train.csv (and check train_* files)
                     check_files: bool = True,    # check that every referenced parquet file is there
                     test: bool = True,           # read test.csv and sample_submission.csv (and check test_* files)
                     ) -> Competition:
    """Read and validate a competition folder: the train part, the test part, or both (e.g. offline inference: test only)."""
    root = Path(root)
    if not root.is_dir(): raise HMSDataError(root, 'competition folder not found')
    te = sample = tr = None
    if test:
        te = read_csv(root / 'test.csv', TEST_COLUMNS)
        sample = read_csv(root / 'sample_submission.csv', ['eeg_id', *TARGETS])
        _check_test(root, te)
        _check_sample(root, te, sample)
    if train:
        tr = read_csv(root / 'train.csv', TRAIN_COLUMNS)
        _check_one_recording(root / 'train.csv', tr)
    if check_files:
        if te is not None:
            _check_files(root / 'test_eegs', te.eeg_id.unique(), 'test EEG')
            _check_files(root / 'test_spectrograms', te.spectrogram_id.unique(), 'test spectrogram')
        if tr is not None:
            _check_files(root / 'train_eegs', tr.eeg_id.unique(), 'train EEG')
            _check_files(root / 'train_spectrograms', tr.spectrogram_id.unique(), 'train spectrogram')
    return Competition(root, tr, te, sample)
