"""Progress a person can read: fastprogress bars where they redraw in place (a terminal, a notebook), else one line per
stage, so logs written to a file or a pipe hold no bar redraws."""
import sys
import time

__all__ = ['interactive', 'progress']


def interactive() -> bool:
    """Whether progress bars can redraw in place: stdout is a terminal, or a notebook shows them."""
    from fastprogress.fastprogress import IN_NOTEBOOK
    return IN_NOTEBOOK or sys.stdout.isatty()


def progress(items, comment: str = ''):   # comment: what the items are, e.g. 'EEG windows'
    """`items` with a fastprogress bar when `interactive()`, else a single line once they are all done."""
    if interactive():
        from fastprogress.fastprogress import progress_bar
        bar = progress_bar(items, leave=False)
        bar.comment = comment
        yield from bar
        return
    t0, n = time.perf_counter(), 0
    for n, item in enumerate(items, 1): yield item
    print(f'{comment or "items"}: {n} done in {time.perf_counter() - t0:.1f} s', flush=True)
