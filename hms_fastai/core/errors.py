"""The one exception a user's data can cause, and the id checks that raise it (plain Python: the CLI starts fast)."""
from collections import Counter

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
    repeated = sorted(i for i, n in Counter(int(i) for i in ids).items() if n > 1)
    if repeated: raise HMSDataError(where, f'duplicate {what}(s) {show_ids(repeated)}')


def check_same_ids(want, got, where, against: str):
    """HMSDataError at `where` naming the eeg_ids missing from `got` and those not in `want` (`against` names `want`)."""
    want, got = {int(i) for i in want}, {int(i) for i in got}
    if want == got: return
    raise HMSDataError(where, f'eeg_ids differ from {against}: missing {show_ids(sorted(want - got))}, '
                              f'unexpected {show_ids(sorted(got - want))}')
