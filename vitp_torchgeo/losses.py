"""Dense losses that honour an ignore value in every setting, binary BCE included.

Sparse labels (changed / unchanged / unlabelled, or segmentation masks with unlabelled
pixels) mark unlabelled pixels with ``ignore_index``. TorchGeo's losses ignore them for
``ce``, ``focal`` and ``dice``, but its binary ``bce`` and ``jaccard`` train on them as
if they were a class. :func:`dense_loss` builds the same losses as TorchGeo's
``SemanticSegmentationTask``/``ChangeDetectionTask`` with those two fixed:
:class:`MaskedBCEWithLogitsLoss` averages over labelled pixels only, and
:class:`IgnoreMasked` hides unlabelled pixels from a soft set loss (their logit is set
to -inf-like and their target to 0, so they add nothing to intersection or union).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import segmentation_models_pytorch as smp
import torch
from torch import Tensor, nn

__all__ = ["IgnoreMasked", "MaskedBCEWithLogitsLoss", "dense_loss"]

#: Logit given to ignored pixels for set losses: sigmoid of it is 0 in float16 and float32.
_HIDDEN_LOGIT = -1.0e4


class MaskedBCEWithLogitsLoss(nn.Module):
    """Binary cross-entropy on logits, averaged over the pixels whose target is labelled."""

    def __init__(
        self, ignore_index: int | None = None, pos_weight: Tensor | float | None = None
    ) -> None:
        """Initialize a new MaskedBCEWithLogitsLoss.

        Args:
            ignore_index: Target value of unlabelled pixels (``None``: all are labelled).
            pos_weight: Weight of positive pixels, as in :class:`torch.nn.BCEWithLogitsLoss`.
        """
        super().__init__()
        self.ignore_index = ignore_index
        if pos_weight is not None and not isinstance(pos_weight, Tensor):
            pos_weight = torch.tensor(pos_weight, dtype=torch.float32)
        self.register_buffer("pos_weight", pos_weight, persistent=False)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Mean loss over labelled pixels (0, still differentiable, when there is none).

        Args:
            logits: Any shape.
            target: Same shape; 0, 1 or ``ignore_index``.
        """
        target = target.to(logits.dtype)
        if self.ignore_index is None:
            labelled = torch.ones_like(target, dtype=torch.bool)
        else:
            labelled = target != self.ignore_index
        safe_target = torch.where(labelled, target, torch.zeros_like(target))
        losses = nn.functional.binary_cross_entropy_with_logits(
            logits, safe_target, pos_weight=self.pos_weight, reduction="none"
        )
        losses = losses * labelled
        return losses.sum() / labelled.sum().clamp_min(1)


class IgnoreMasked(nn.Module):
    """Wrap a binary soft set loss (Jaccard) so that unlabelled pixels do not count."""

    def __init__(self, loss: nn.Module, ignore_index: int) -> None:
        """Initialize a new IgnoreMasked.

        Args:
            loss: Loss on ``(logits, target)`` in binary mode.
            ignore_index: Target value of unlabelled pixels.
        """
        super().__init__()
        self.loss = loss
        self.ignore_index = ignore_index

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """The wrapped loss with unlabelled pixels given logit -inf and target 0."""
        ignored = target == self.ignore_index
        logits = logits.masked_fill(ignored, _HIDDEN_LOGIT)
        return self.loss(logits, target.masked_fill(ignored, 0))


def dense_loss(hparams: Mapping[str, Any]) -> nn.Module:
    """The loss of a dense ViTP task (segmentation or change) from its hyper-parameters.

    Reads ``loss`` (``ce``, ``bce``, ``jaccard``, ``focal``, ``dice``), ``task``,
    ``ignore_index``, ``class_weights``, ``num_classes`` and ``pos_weight`` (if any).
    """
    ignore_index: int | None = hparams.get("ignore_index")
    task = hparams["task"]
    weights: Tensor | Sequence[float] | None = hparams.get("class_weights")
    if weights is not None and not isinstance(weights, Tensor):
        weights = torch.tensor(weights, dtype=torch.float32)
    match hparams["loss"]:
        case "ce":
            return nn.CrossEntropyLoss(
                ignore_index=-1000 if ignore_index is None else ignore_index, weight=weights
            )
        case "bce":
            return MaskedBCEWithLogitsLoss(ignore_index, hparams.get("pos_weight"))
        case "jaccard":
            if task == "multiclass" and ignore_index is not None:
                classes = [i for i in range(hparams["num_classes"]) if i != ignore_index]
                return smp.losses.JaccardLoss(mode=task, classes=classes)
            loss = smp.losses.JaccardLoss(mode=task)
            return loss if ignore_index is None else IgnoreMasked(loss, ignore_index)
        case "focal":
            return smp.losses.FocalLoss(mode=task, ignore_index=ignore_index, normalized=True)
        case "dice":
            return smp.losses.DiceLoss(mode=task, ignore_index=ignore_index)
    raise ValueError(f"loss={hparams['loss']!r}; use 'ce', 'bce', 'jaccard', 'focal' or 'dice'.")
