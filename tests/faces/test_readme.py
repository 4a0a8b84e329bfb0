"""README: its command block is the parser's, and its two commands are the ones CI and a newcomer run."""
from pathlib import Path

from hms_fastai.cli import usage_text

README = (Path(__file__).resolve().parents[2] / 'README.md').read_text()


def test_the_command_block_is_the_parser():
    block = README.split('## Command line', 1)[1].split('```\n', 2)[1]
    assert block == usage_text()


def test_the_two_commands():
    ci = (Path(__file__).resolve().parents[2] / '.ci' / 'run').read_text()
    assert 'pip install -q -c constraints.txt -e ".[test]" && .venv/bin/python -m pytest -q' in ci
    assert '.venv/bin/pip install -c constraints.txt -e ".[test]" && .venv/bin/python -m pytest -q' in README
    assert '.venv/bin/pip install -c constraints.txt -e . && .venv/bin/hms-fastai demo --quick --out demo' in README
