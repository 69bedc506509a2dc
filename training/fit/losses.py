"""The class loss: cross-entropy for images of a known class, and for tumours of unknown kind a loss on p(no tumour).

A tumour of unknown kind (label ``len(classes)``, :func:`training.data.unknown_kind.unknown_kind_label`) says "tumour",
not which: its loss is ``−log(1 − p(no tumour))`` — the log of the tumour classes' summed probability — so it
teaches tumour or not and leaves the kinds to the labelled images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TumourAnyKindLoss(nn.Module):
    """Label-smoothed cross-entropy over the classes; ``−log Σ p(tumour kinds)`` for labels equal to the class count.

    ``absent``: the no-tumour class's index. Both parts are averaged over the whole batch, so an image weighs the same
    whichever its label.
    """

    def __init__(self, absent: int, label_smoothing: float) -> None:
        super().__init__()
        self.absent = absent
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        classes = logits.shape[1]
        known = target < classes
        total = logits.float().sum() * 0.0
        if bool(known.any()):
            total = total + F.cross_entropy(
                logits[known].float(), target[known], label_smoothing=self.label_smoothing, reduction="sum"
            )
        unknown = ~known
        if bool(unknown.any()):
            log_probs = torch.log_softmax(logits[unknown].float(), 1)
            kinds = torch.cat([log_probs[:, : self.absent], log_probs[:, self.absent + 1 :]], 1)
            total = total - torch.logsumexp(kinds, 1).sum()
        return total / max(1, len(target))


def localisation_targets(logits: torch.Tensor, target: torch.Tensor, absent: int) -> torch.Tensor:
    """The class whose evidence map the localisation loss reads: the label, or for a tumour of unknown kind the
    kind the model finds most likely (no gradient through the choice)."""
    classes = logits.shape[1]
    kinds = logits.detach().float().clone()
    kinds[:, absent] = -torch.inf
    return torch.where(target < classes, target, kinds.argmax(1))
