"""The KL objective in fastai: a loss on logits with softmax activation, and Kaggle-KL validation metrics."""
import torch
import torch.nn.functional as F
from fastai.learner import Metric

from ..competition.score import kl_rows

__all__ = ['KLDivLossFlat', 'KLMetric', 'kl_metrics']


class KLDivLossFlat:
    """KL(target‖softmax(logits)) averaged over the batch; `get_preds`/`tta` return probabilities."""

    def __init__(self, reduction: str = 'mean'): self.reduction = reduction

    def __call__(self, pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
        """Loss of logits `pred` (bs, 6) against soft targets `targ` (bs, 6)."""
        rows = F.kl_div(F.log_softmax(pred.float(), dim=-1), targ.float(), reduction='none').sum(-1)
        return rows if self.reduction == 'none' else rows.sum() if self.reduction == 'sum' else rows.mean()

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        """Logits to probabilities."""
        return F.softmax(x.float(), dim=-1)

    def decodes(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities to the most likely class index."""
        return x.argmax(dim=-1)

    def __repr__(self): return f'KLDivLossFlat(reduction={self.reduction!r})'


class KLMetric(Metric):
    """Kaggle KL of the validation predictions, on all rows or on expert rows (total_votes ≥ 10) only."""

    def __init__(self, expert_only: bool = False): self.expert_only = expert_only

    def reset(self):
        """Forget the previous validation's batches."""
        self.preds, self.targs, self.expert = [], [], None

    def accumulate(self, learn):
        """Collect one batch's probabilities and targets (and, once, the expert flags of the loader's rows)."""
        self.preds.append(learn.to_detach(F.softmax(learn.pred.float(), dim=-1)))   # through the DataLoader: whole, or gathered
        self.targs.append(learn.to_detach(learn.y))
        if self.expert_only and self.expert is None: self.expert = learn.dl.items['expert'].to_numpy(bool)

    @property
    def value(self) -> float:
        """Mean per-row KL, in the same clipping as the grader."""
        if not self.preds: return float('nan')
        p, y = torch.cat(self.preds).numpy(), torch.cat(self.targs).float().numpy()
        if self.expert_only: p, y = p[self.expert[:len(p)]], y[self.expert[:len(p)]]
        return float(kl_rows(y, p).mean()) if len(p) else float('nan')

    @property
    def name(self) -> str:
        """The column name in fastai's table."""
        return 'kl_expert' if self.expert_only else 'kl'

    def __getstate__(self):
        return {'expert_only': self.expert_only}      # an exported learner carries no validation predictions

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.reset()


def kl_metrics() -> list:
    """The validation metric every learner reports beside valid_loss (the KL on all rows): the KL on expert rows."""
    return [KLMetric(expert_only=True)]
