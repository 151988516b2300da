"""Dense losses ignore unlabelled pixels in every setting, binary BCE and Jaccard included."""

import pytest
import segmentation_models_pytorch as smp
import torch
from torch import nn

from vitp_torchgeo.losses import IgnoreMasked, MaskedBCEWithLogitsLoss, dense_loss

IGNORE = 255


@pytest.fixture
def sparse() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 8, 8, requires_grad=True)
    target = (torch.rand(2, 1, 8, 8) > 0.5).long()
    unlabelled = torch.rand(2, 1, 8, 8) > 0.6
    return logits, target.masked_fill(unlabelled, IGNORE), unlabelled


def test_masked_bce_is_bce_over_labelled_pixels(sparse) -> None:
    logits, target, unlabelled = sparse
    loss = MaskedBCEWithLogitsLoss(IGNORE)(logits, target.float())
    expected = nn.functional.binary_cross_entropy_with_logits(
        logits[~unlabelled], target[~unlabelled].float()
    )
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert (logits.grad[unlabelled] == 0).all()


def test_masked_jaccard_ignores_unlabelled_pixels(sparse) -> None:
    logits, target, unlabelled = sparse
    loss = IgnoreMasked(smp.losses.JaccardLoss(mode="binary"), IGNORE)(logits, target)
    changed = logits.detach().clone()
    changed[unlabelled] = 50.0  # whatever the model says there
    again = IgnoreMasked(smp.losses.JaccardLoss(mode="binary"), IGNORE)(changed, target)
    torch.testing.assert_close(loss, again)


@pytest.mark.parametrize("loss", ["bce", "jaccard", "focal", "dice"])
def test_every_binary_loss_ignores_unlabelled(sparse, loss: str) -> None:
    logits, target, unlabelled = sparse
    criterion = dense_loss({"loss": loss, "task": "binary", "ignore_index": IGNORE})
    target = target.float() if loss == "bce" else target
    value = criterion(logits, target)
    moved = logits.detach().clone()
    moved[unlabelled] = -moved[unlabelled] + 3.0
    torch.testing.assert_close(criterion(moved, target), value)


def test_multiclass_ce_keeps_torchgeo_semantics() -> None:
    criterion = dense_loss(
        {"loss": "ce", "task": "multiclass", "ignore_index": 2, "class_weights": [1.0, 2.0, 1.0]}
    )
    assert isinstance(criterion, nn.CrossEntropyLoss) and criterion.ignore_index == 2
