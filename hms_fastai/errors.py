"""The one exception a user's data can cause."""


class HMSDataError(ValueError):
    """Bad competition input: names the file or id and what is wrong with it."""

    def __init__(self, where, what: str):
        self.where, self.what = str(where), what
        super().__init__(f'{where}: {what}')


def show_ids(ids, limit: int = 10) -> str:
    """A short, readable list of (the first `limit`) ids for an error message."""
    ids = [int(i) for i in ids]
    return '[' + ', '.join(map(str, ids[:limit])) + (', …' if len(ids) > limit else '') + ']'
