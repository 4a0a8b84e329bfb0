"""runs: every run folder under some folders in one table, each figure read back from the run's own files; the curves."""
import io
import json

import pandas as pd
import pytest

from hms_fastai.cli import main
from hms_fastai.competition.io import read_csv
from hms_fastai.competition.score import kaggle_score, oof_scores
from hms_fastai.core.constants import TARGETS
from hms_fastai.core.version import __version__, git_revision
from hms_fastai.experiments.runs_table import RUN_COLUMNS, find_runs, plot_runs, runs_table, runs_text
from hms_fastai.learn.recipes import train_folds

pytestmark = pytest.mark.usefixtures('one_thread')   # tiny models on one torch thread

TINY = dict(arch='test_efficientnet', bs=4, flip=0, mask=0, seed=0, epochs=1, epochs2=0, folds_used=[0, 1])


@pytest.fixture(scope='module')
def sweep(fastai_data, tmp_path_factory):
    """Two runs that differ in lr, in sweep/a and sweep/b; → (sweep folder, fold table, name → TrainedFolds)."""
    train, _, table = fastai_data
    root = tmp_path_factory.mktemp('runs') / 'sweep'
    return root, table, {name: train_folds(table, train, root / name, lr=lr, **TINY) for name, lr in (('a', 1e-3), ('b', 1e-2))}


def test_each_figure_is_the_one_in_the_runs_files(sweep, synth_root):
    root, table, trained = sweep
    (root / 'b' / 'submission.csv').write_text((synth_root / 'test_oracle.csv').read_text())   # as experiments leave one
    solution = synth_root / 'test_solution.csv'
    t = runs_table([root], solution=solution).set_index('run')
    assert list(t.reset_index().columns) == ['run', 'lr', *RUN_COLUMNS[1:]] and sorted(t.index) == ['a', 'b']
    assert t.cv_kl.is_monotonic_increasing
    for name, r in t.iterrows():
        m = json.loads((root / name / 'models.json').read_text())
        scores = oof_scores(table, pd.read_csv(root / name / 'oof.csv'))
        assert r.cv_kl == pytest.approx(scores['kl'], rel=1e-12) and r.cv_kl_expert == pytest.approx(scores['kl_expert'], rel=1e-12)
        assert scores == pytest.approx(trained[name].scores) and r.lr == m['run']['lr']
        assert r.params == trained[name].params and r.learners == 2 and r.state == 'complete'
        assert r.wall_s == pytest.approx(sum(m['seconds'].values())) and r.wall_s > 0 and set(m['seconds']) == {'0', '1'}
        assert r.package == __version__ and m['git'] == git_revision() and r.git == (m['git'] or '')[:12] + '+dirty' * (m['git'] or '').endswith('+dirty')
    assert t.test_kl['b'] == pytest.approx(kaggle_score(read_csv(solution, ['eeg_id', *TARGETS]), read_csv(root / 'b' / 'submission.csv', ['eeg_id'])))
    assert pd.isna(t.test_kl['a'])


def test_sorted_named_and_written_as_markdown_or_csv(sweep, tmp_path, capsys):
    root, _, _ = sweep
    assert list(runs_table([root], sort='lr').run) == ['a', 'b'] and list(runs_table([root], sort='run').run) == ['a', 'b']
    assert list(find_runs([root / 'a', root])) == ['a', 'sweep/a', 'sweep/b']     # a run folder itself, or found below one
    one = runs_table([root / 'a'])                                                   # one run: what differs from the defaults
    assert {'arch', 'epochs', 'epochs2', 'bs', 'lr', 'flip', 'mask', 'folds_used'} <= set(one.columns) and 'kind' not in one.columns
    assert one.folds_used[0] == '0,1' and one.run[0] == 'a'
    t = runs_table([root], sort='lr')
    assert main(['runs', str(root), '--sort', 'lr', '--format', 'csv']) == 0
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(capsys.readouterr().out)), t, check_dtype=False)
    md = runs_text(t).splitlines()
    assert md[0] == '| ' + ' | '.join(t.columns) + ' |' and md[2].startswith('| a | 0.001 | complete | ')


def test_the_curves_of_every_fold_side_by_side(sweep, tmp_path):
    root, _, _ = sweep
    fig = plot_runs([root], tmp_path / 'curves.png')
    shown = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert shown == ['a fold 0', 'a fold 1', 'b fold 0', 'b fold 1'] and (tmp_path / 'curves.png').stat().st_size > 10_000
