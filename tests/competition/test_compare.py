"""compare_submissions on three hand-checkable rows: KL both ways, agreement, means, order, scores, figure, CLI."""
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from hms_fastai.cli import main
from hms_fastai.competition.compare import compare_submissions
from hms_fastai.competition.score import kaggle_score
from hms_fastai.core.constants import CLASSES, TARGETS
from hms_fastai.core.errors import HMSDataError

U = [1 / 6] * 6
SAME = [0.1, 0.6, 0.1, 0.1, 0.05, 0.05]
LN_BIG = np.log((1 / 6) / 1e-15)   # a 0 in the second argument is clipped to 1e-15


def _table(ids, values) -> pd.DataFrame:
    df = pd.DataFrame(np.asarray(values, float), columns=TARGETS)
    df.insert(0, 'eeg_id', ids)
    return df


@pytest.fixture
def subs():
    """A and B (B's rows shuffled): eeg 10 one-hot vs uniform, eeg 20 identical, eeg 30 the top two swapped."""
    a = _table([10, 20, 30], [[1, 0, 0, 0, 0, 0], SAME, [0.25, 0.75, 0, 0, 0, 0]])
    b = _table([30, 10, 20], [[0.75, 0.25, 0, 0, 0, 0], U, SAME])
    sol = _table([20, 30, 10], [[0, 2, 0, 0, 1, 1], [1, 3, 0, 0, 0, 0], [3, 0, 0, 0, 0, 0]])   # raw votes
    return a, b, sol


def test_kl_both_ways_agreement_and_means(subs):
    a, b, _ = subs
    c = compare_submissions(a, b)
    ab = [np.log(6), 0, 0.5 * np.log(3)]                                      # eeg 10, 20, 30
    ba = [5 / 6 * LN_BIG + 1 / 6 * np.log(1 / 6), 0, 0.5 * np.log(3)]
    assert c.rows.index.tolist() == [10, 20, 30]
    np.testing.assert_allclose(c.rows.kl_ab, ab, atol=1e-12)
    np.testing.assert_allclose(c.rows.kl_ba, ba, atol=1e-12)
    assert c.kl_ab == pytest.approx(np.mean(ab)) and c.kl_ba == pytest.approx(np.mean(ba))
    assert c.rows.class_a.tolist() == ['Seizure', 'LPD', 'LPD']
    assert c.rows.class_b.tolist() == ['Seizure', 'LPD', 'Seizure']            # uniform: ties go to the first class
    assert c.agreement == pytest.approx(2 / 3)
    assert c.means.index.tolist() == CLASSES and c.means.columns.tolist() == ['A', 'B']
    np.testing.assert_allclose(c.means.A, [1.35 / 3, 1.35 / 3, 0.1 / 3, 0.1 / 3, 0.05 / 3, 0.05 / 3])
    b_means = [(0.75 + 1 / 6 + 0.1) / 3, (0.25 + 1 / 6 + 0.6) / 3, *[(1 / 6 + x) / 3 for x in SAME[2:]]]
    np.testing.assert_allclose(c.means.B, b_means)
    assert c.scores is None and c.contributions is None


def test_most_different_first(subs):
    a, b, _ = subs
    c = compare_submissions(a, b, top=2)
    assert c.differ.index.tolist() == [10, 30]
    assert compare_submissions(a, b).differ.index.tolist() == [10, 30, 20]
    assert compare_submissions(a, b, top=0).differ.empty
    np.testing.assert_allclose(compare_submissions(a, a).rows.sym_kl, 0, atol=1e-12)   # 1 vs 1-1e-15: ~1e-15


def test_scores_and_per_class_contributions(subs):
    a, b, sol = subs
    c = compare_submissions(a, b, sol, names=('mine', 'theirs'))
    assert c.scores.mine == kaggle_score(sol, a) and c.scores.theirs == kaggle_score(sol, b)
    eeg20 = 0.5 * np.log(0.5 / 0.6) + 0.5 * np.log(5)          # y = [0, .5, 0, 0, .25, .25] against SAME
    assert c.scores.mine == pytest.approx(eeg20 / 3)
    assert c.scores.theirs == pytest.approx((np.log(6) + eeg20 + 0.5 * np.log(3)) / 3)
    np.testing.assert_allclose(c.rows.kl_a, [0, eeg20, 0], atol=1e-12)
    np.testing.assert_allclose(c.rows.kl_b, [np.log(6), eeg20, 0.5 * np.log(3)], atol=1e-12)
    per_class = np.array([0, 0.5 * np.log(5 / 6), 0, 0, 0.25 * np.log(5), 0.25 * np.log(5)]) / 3   # all from eeg 20
    np.testing.assert_allclose(c.contributions.mine, per_class, atol=1e-12)
    np.testing.assert_allclose(c.contributions.sum(), c.scores, rtol=1e-12)
    np.testing.assert_allclose(c.solution_means, [(1 + 0.25) / 3, (0.5 + 0.75) / 3, 0, 0, 0.25 / 3, 0.25 / 3])


def test_report_text(subs):
    a, b, sol = subs
    text = str(compare_submissions(a, b, sol, top=2))
    for want in ['3 eeg_ids; argmax agreement 66.7% (2/3)', f'mean KL(A‖B) {np.log(6) / 3 + np.log(3) / 6:.4f}',
                 'KL against the solution', 'most different eeg_ids', 'KL(sol‖B)']:
        assert want in text
    top_rows = text.split('most different eeg_ids')[1].splitlines()[2:]   # after the title and the header
    assert [int(r.split()[0]) for r in top_rows] == [10, 30]


@pytest.mark.parametrize('with_solution', [False, True])
def test_plot_renders_png(tmp_path, subs, with_solution):
    a, b, sol = subs
    c = compare_submissions(a, b, sol if with_solution else None)
    fig = c.plot(tmp_path / 'cmp.png')
    means, kl = fig.axes[:2]
    assert [t.get_text() for t in means.get_xticklabels()] == CLASSES and len(means.patches) == 12
    assert kl.get_title() == ('per-row KL against the solution' if with_solution else 'per-row KL(A‖B)')
    assert len(kl.get_legend().get_texts()) == (2 if with_solution else 1)
    assert (tmp_path / 'cmp.png').stat().st_size > 20 * 1024 and [p.name for p in tmp_path.iterdir()] == ['cmp.png']
    assert not plt.get_fignums()


def test_paths_and_bad_input(tmp_path, subs):
    a, b, sol = subs
    a.to_csv(tmp_path / 'a.csv', index=False)
    c = compare_submissions(tmp_path / 'a.csv', b)
    assert c.sources == (str(tmp_path / 'a.csv'), 'B') and f'A: {tmp_path / "a.csv"}' in c.report()
    with pytest.raises(HMSDataError, match=r'^B: eeg_ids differ from A: missing \[30\], unexpected \[40\]'):
        compare_submissions(a, b.replace({'eeg_id': {30: 40}}))
    with pytest.raises(HMSDataError, match=r'^solution: eeg_ids differ from A: missing \[20\]'):
        compare_submissions(a, b, sol.iloc[1:])
    with pytest.raises(HMSDataError, match=r'^B: rows do not add to one for eeg_id\(s\) \[10\]'):
        compare_submissions(a, b.assign(lpd_vote=b.lpd_vote * (b.eeg_id != 10)))
    with pytest.raises(HMSDataError, match='^A: no rows'): compare_submissions(a.iloc[:0], b)
    with pytest.raises(HMSDataError, match='top'): compare_submissions(a, b, top=-1)
    with pytest.raises(ValueError, match='names'): compare_submissions(a, b, names=('x', 'x'))


def _write(tmp_path, **tables) -> dict:
    """Write each table as <name>.csv and return the paths as strings."""
    for name, t in tables.items(): t.to_csv(tmp_path / f'{name}.csv', index=False)
    return {name: str(tmp_path / f'{name}.csv') for name in tables}


def test_cli_prints_report_and_plots(tmp_path, capsys, subs):
    a, b, sol = subs
    f = _write(tmp_path, a=a, b=b, sol=sol)
    assert main(['compare', f['a'], f['b'], '--solution', f['sol'], '--plot', str(tmp_path / 'c.png'), '--top', '1']) == 0
    out = capsys.readouterr().out
    assert f'A: {f["a"]}' in out and 'argmax agreement 66.7% (2/3)' in out
    score_line = next(r.split() for r in out.splitlines() if r.startswith('score '))
    assert score_line == ['score', f'{kaggle_score(sol, a):.4f}', f'{kaggle_score(sol, b):.4f}']
    assert out.split('most different eeg_ids')[1].splitlines()[2].split()[:3] == ['10', 'Seizure', 'Seizure']
    assert len(out.split('most different eeg_ids')[1].strip().splitlines()) == 3   # title, header, 1 row
    assert (tmp_path / 'c.png').stat().st_size > 20 * 1024


@pytest.mark.parametrize('mutate,msg', [
    (lambda t: t.iloc[1:], 'eeg_ids differ from'),
    (lambda t: t.assign(gpd_vote=np.nan), 'non-finite values'),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, subs, mutate, msg):
    a, b, _ = subs
    f = _write(tmp_path, a=a, b=mutate(b))
    assert main(['compare', f['a'], f['b']]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f'hms-fastai compare: error: {f["b"]}: {msg}') and not captured.out
