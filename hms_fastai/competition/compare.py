"""Compare two submissions: class means, KL between them, argmax agreement, where they differ most, scores."""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..core.atomic import atomic_path
from ..core.constants import CLASSES, TARGETS
from ..core.errors import HMSDataError, check_same_ids
from .io import read_csv
from .score import check_probabilities, kaggle_score, kl_rows, normalise_rows, target_table

__all__ = ['compare_submissions', 'SubmissionComparison']


@dataclass
class SubmissionComparison:
    """Two submissions side by side: per-class means, KL both ways, agreement, per-row figures and scores."""
    names: tuple                        # display names of the two submissions
    sources: tuple                      # where each came from: a csv path or its name
    means: pd.DataFrame                 # CLASSES × names: mean probability per class
    kl_ab: float                        # mean over rows of KL(A‖B), the grader's clipping
    kl_ba: float                        # mean over rows of KL(B‖A)
    agreement: float                    # fraction of rows where the argmax classes are equal
    rows: pd.DataFrame                  # per eeg_id: argmax class_a, class_b (ties: first), kl_ab, kl_ba, sym_kl
                                        # and, with a solution, kl_a, kl_b: KL(solution‖A), KL(solution‖B)
    top: int = 10                       # how many rows `differ` and the report show
    scores: pd.Series | None = None     # per name: kaggle_score against the solution
    contributions: pd.DataFrame | None = None   # CLASSES × names: mean of y·ln(y/p) per class; sums to scores
    solution_means: pd.Series | None = None     # per class: mean of the normalised solution votes

    @property
    def differ(self) -> pd.DataFrame:
        """The `top` eeg_ids where the two differ most, by KL(A‖B) + KL(B‖A)."""
        return self.rows.sort_values('sym_kl', ascending=False, kind='stable').head(self.top)

    def report(self) -> str:
        """The comparison as plain text."""
        a, b = self.names
        head = [f'{n}: {s}' for n, s in zip(self.names, self.sources) if s != n]
        n, same = len(self.rows), int(round(self.agreement * len(self.rows)))
        head += [f'{n} eeg_ids; argmax agreement {self.agreement:.1%} ({same}/{n})',
                 f'mean KL({a}‖{b}) {self.kl_ab:.4f}   mean KL({b}‖{a}) {self.kl_ba:.4f}', '',
                 'mean probability per class:', self._class_table().to_string(float_format='{:.4f}'.format)]
        if self.scores is not None:
            table = pd.concat([self.scores.to_frame('score').T, self.contributions])
            head += ['', 'KL against the solution (lower is better), total then per-class contribution:',
                     table.to_string(float_format='{:.4f}'.format)]
        head += ['', f'most different eeg_ids (by KL({a}‖{b}) + KL({b}‖{a})):', self._differ_table().to_string(
            index=False, float_format='{:.4f}'.format)]
        return '\n'.join(head)

    __str__ = __repr__ = report

    def _class_table(self) -> pd.DataFrame:
        """Means per class, their difference and, with a solution, the solution's means."""
        a, b = self.names
        t = self.means.assign(**{f'{b} - {a}': self.means[b] - self.means[a]})
        return t if self.solution_means is None else t.assign(solution=self.solution_means)

    def _differ_table(self) -> pd.DataFrame:
        """`differ` with readable column names."""
        a, b = self.names
        cols = {'class_a': f'{a} class', 'class_b': f'{b} class', 'kl_ab': f'KL({a}‖{b})', 'kl_ba': f'KL({b}‖{a})',
                'kl_a': f'KL(sol‖{a})', 'kl_b': f'KL(sol‖{b})'}
        return self.differ.drop(columns='sym_kl').rename(columns=cols).reset_index()

    def plot(self, path=None) -> Figure:
        """Per-class means as grouped bars beside the per-row KL histogram; saved as PNG when `path` is given."""
        fig = Figure(figsize=(13, 4.8), layout='constrained')
        ax_means, ax_kl = fig.subplots(1, 2, width_ratios=(1.2, 1))
        self._draw_means(ax_means)
        self._draw_kl(ax_kl)
        fig.suptitle(f'{self.names[0]} vs {self.names[1]}: {len(self.rows)} eeg_ids, argmax agreement {self.agreement:.1%}')
        if path is not None:
            with atomic_path(Path(path), suffix='.png') as tmp: fig.savefig(tmp, format='png', dpi=100)
        return fig

    def _draw_means(self, ax):
        """Grouped bars of the two submissions' class means, the solution's as black ticks."""
        x = np.arange(len(CLASSES))
        for i, name in enumerate(self.names):
            ax.bar(x + (i - 0.5) * 0.4, self.means[name], width=0.4, label=name)
        if self.solution_means is not None:
            ax.scatter(x, self.solution_means, marker='_', s=900, color='k', zorder=3, label='solution')
        ax.set_xticks(x, CLASSES)
        ax.set_ylabel('mean probability')
        ax.set_title('mean probability per class')
        ax.legend()

    def _draw_kl(self, ax):
        """Histogram of per-row KL: against the solution when there is one, else KL(A‖B)."""
        a, b = self.names
        if self.scores is None:
            series = {f'KL({a}‖{b}), mean {self.kl_ab:.3f}': self.rows.kl_ab}
            ax.set_title(f'per-row KL({a}‖{b})')
        else:
            series = {f'KL(sol‖{n}), score {self.scores[n]:.3f}': self.rows[c]
                      for n, c in zip(self.names, ['kl_a', 'kl_b'])}
            ax.set_title('per-row KL against the solution')
        bins = np.histogram_bin_edges(np.concatenate([s.to_numpy() for s in series.values()]), bins=30)
        for i, (label, s) in enumerate(series.items()):
            ax.hist(s, bins=bins, alpha=0.55, color=f'C{i}', label=label)
            ax.axvline(s.mean(), color=f'C{i}', ls='--', lw=1.2)
        ax.set_xlabel('KL divergence (nats)')
        ax.set_ylabel('eeg_ids')
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.legend()


def _table(x, name: str) -> tuple[pd.DataFrame, str]:
    """A DataFrame and the name its errors use, from a DataFrame or a csv path."""
    if isinstance(x, pd.DataFrame): return x, name
    return read_csv(x, ['eeg_id', *TARGETS]), str(x)


def _probabilities(x, name: str) -> tuple[pd.DataFrame, str]:
    """A submission's eeg_id-indexed probabilities, checked as the grader checks them."""
    df, where = _table(x, name)
    v = target_table(df, where)
    if v.empty: raise HMSDataError(where, 'no rows')
    check_probabilities(v, where)
    return v, where


def _cells(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per-cell y·ln(y/p) with the grader's clipping: each row sums to `kl_rows(y, p)`."""
    return kl_rows(y.reshape(-1, 1), p.reshape(-1, 1)).reshape(y.shape)


def _against_solution(solution, subs: dict, where_ref: str) -> dict:
    """Scores, per-class contributions and per-row KL of each of `subs`, and the normalised solution's class means."""
    sol, where = _table(solution, 'solution')
    votes = target_table(sol, where)
    ids = next(iter(subs.values())).index
    check_same_ids(ids, votes.index, where, where_ref)
    scores = pd.Series({n: kaggle_score(sol, v.reset_index()) for n, v in subs.items()})
    y = normalise_rows(votes.loc[ids])
    cells = {n: _cells(y, v.to_numpy()) for n, v in subs.items()}
    return dict(scores=scores, contributions=pd.DataFrame({n: c.mean(axis=0) for n, c in cells.items()}, index=CLASSES),
                solution_means=pd.Series(y.mean(axis=0), index=CLASSES), row_kl={n: c.sum(axis=1) for n, c in cells.items()})


def compare_submissions(a, b, solution=None, names: tuple = ('A', 'B'), top: int = 10) -> SubmissionComparison:
    """Compare submissions `a` and `b` (DataFrames or csv paths), and score both when a `solution` is given."""
    names = tuple(names)
    if len(names) != 2 or names[0] == names[1]: raise ValueError(f'names must be two different labels, got {names}')
    if top < 0: raise HMSDataError('top', f'must be at least 0, got {top}')
    va, where_a = _probabilities(a, names[0])
    vb, where_b = _probabilities(b, names[1])
    check_same_ids(va.index, vb.index, where_b, where_a)
    vb = vb.loc[va.index]
    pa, pb = va.to_numpy(), vb.to_numpy()
    ca, cb = pa.argmax(axis=1), pb.argmax(axis=1)
    kl_ab, kl_ba = kl_rows(pa, pb), kl_rows(pb, pa)
    rows = pd.DataFrame({'class_a': np.array(CLASSES)[ca], 'class_b': np.array(CLASSES)[cb], 'kl_ab': kl_ab,
                         'kl_ba': kl_ba, 'sym_kl': kl_ab + kl_ba}, index=va.index)
    extra = {} if solution is None else _against_solution(solution, {names[0]: va, names[1]: vb}, where_a)
    if extra: rows['kl_a'], rows['kl_b'] = extra.pop('row_kl').values()
    means = pd.DataFrame({names[0]: pa.mean(axis=0), names[1]: pb.mean(axis=0)}, index=CLASSES)
    return SubmissionComparison(names, (where_a, where_b), means, float(kl_ab.mean()), float(kl_ba.mean()),
                                float((ca == cb).mean()), rows, top, **extra)
