"""The package's metadata admits the torch/torchvision pairs Kaggle's images carry, and its tested floor."""
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


KAGGLE_PAIRS = [('2.9.0+cu126', '0.24.0+cu126'),    # torch/torchvision of Kaggle's GPU images: early 2026
                ('2.10.0+cu128', '0.25.0+cu128'),   # its image on Colab's 2026-05-14 base (the current one, mid-2026)
                ('2.11.0+cu128', '0.26.0+cu128')]   # Colab's since 2026-05-21: the base of Kaggle's next image
FLOOR = ('2.4.1', '0.19.1')                          # the lowest pair supported: import, training and submit ran on it


def _ranges() -> dict:
    """pyproject.toml's requirement specifiers of torch and torchvision, and constraints.txt's pins of them."""
    tomllib = pytest.importorskip('tomllib')
    from packaging.requirements import Requirement
    project = tomllib.loads((REPO / 'pyproject.toml').read_text())['project']
    reqs = {r.name: r.specifier for r in map(Requirement, project['dependencies'])}
    pins = dict(line.split('==') for line in (REPO / 'constraints.txt').read_text().splitlines() if '==' in line)
    return {name: (reqs[name], pins[name]) for name in ('torch', 'torchvision')}


@pytest.mark.parametrize('pair', [*KAGGLE_PAIRS, FLOOR, 'constraints'])
def test_torch_ranges_admit_kaggle_pairs_the_floor_and_the_pinned_pair(pair):
    ranges = _ranges()
    if pair == 'constraints': pair = tuple(pin for _, pin in ranges.values())
    for (spec, _), version in zip(ranges.values(), pair):
        assert spec.contains(version), (str(spec), version)


def test_torch_ranges_refuse_below_the_floor():
    (torch_spec, _), (vision_spec, _) = _ranges().values()
    assert not torch_spec.contains('2.3.1') and not vision_spec.contains('0.18.1')
