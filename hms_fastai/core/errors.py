"""The one exception a user's data can cause, and the id checks that raise it."""
import numpy as np

__all__ = ['HMSDataError', 'show_ids', 'check_unique_ids', 'check_same_ids']


class HMSDataError(ValueError):
    """Bad competition input: names the file or id and what is wrong with it."""

    def __init__(self, where, what: str):
        self.where, self.what = str(where), what
        super().__init__(f'{where}: {what}')


def show_ids(ids, limit: int = 10) -> str:
    """A short, readable list of (the first `limit`) ids for an error message."""
    ids = [int(i) for i in ids]
    return '[' + ', '.join(map(str, ids[:limit])) + (', …' if len(ids) > limit else '') + ']'


def check_unique_ids(ids, where, what: str = 'eeg_id'):
    """HMSDataError at `where` naming the ids that occur more than once."""
    ids = np.asarray(ids)
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any(): raise HMSDataError(where, f'duplicate {what}(s) {show_ids(uniq[counts > 1])}')


def check_same_ids(want, got, where, against: str):
    """HMSDataError at `where` naming the eeg_ids missing from `got` and those not in `want` (`against` names `want`)."""
    want, got = set(np.asarray(want).tolist()), set(np.asarray(got).tolist())
    if want == got: return
    raise HMSDataError(where, f'eeg_ids differ from {against}: missing {show_ids(sorted(want - got))}, '
                              f'unexpected {show_ids(sorted(got - want))}')
