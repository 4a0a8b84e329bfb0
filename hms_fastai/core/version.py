"""The package's version and the git revision of its source: written into exports and run manifests."""
import subprocess
from pathlib import Path

__all__ = ['__version__', 'git_revision']

__version__ = '0.2.0'


def git_revision() -> str | None:
    """The commit the package's source is checked out at (with '+dirty' when tracked files differ); None outside a checkout."""
    root = Path(__file__).resolve().parents[2]                  # the folder holding hms_fastai/

    def git(*args) -> str | None:
        try: r = subprocess.run(['git', '-C', str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError): return None
        return r.stdout.strip() if r.returncode == 0 else None
    top = git('rev-parse', '--show-toplevel')
    if top is None or Path(top).resolve() != root: return None   # installed (or vendored inside another repository)
    head = git('rev-parse', 'HEAD')
    if head is None: return None
    return head + ('+dirty' if git('status', '--porcelain', '--untracked-files=no') else '')
