"""ViTPPretrainModule's optimizer: the ViT's own learning rate."""

from __future__ import annotations

from unittest import mock

import pytest
from tiny_data import TINY_ARCHITECTURE

from vitp_core.training.module import ViTPPretrainModule

TINY = TINY_ARCHITECTURE


def _optimizer(**kwargs: object):
    module = ViTPPretrainModule(lr=1e-3, **TINY, **kwargs)
    with mock.patch.object(ViTPPretrainModule, "trainer", mock.Mock(estimated_stepping_batches=10)):
        return module, module.configure_optimizers()["optimizer"]


@pytest.mark.parametrize("scale", [1.0, 0.1])
def test_vit_gets_its_scaled_learning_rate(scale: float) -> None:
    module, optimizer = _optimizer(vit_lr_scale=scale)
    vit = {id(p) for p in module.model.vit.parameters()}
    seen = []
    for group in optimizer.param_groups:
        for param in group["params"]:
            expected = 1e-3 * scale if id(param) in vit else 1e-3
            assert group["initial_lr"] == pytest.approx(expected)
            seen.append(id(param))
    trainable = [id(p) for p in module.parameters() if p.requires_grad]
    assert sorted(seen) == sorted(trainable)  # every parameter exactly once


def test_frozen_vit_leaves_no_empty_group() -> None:
    module, optimizer = _optimizer(freeze_vit=True, vit_lr_scale=0.1)
    assert all(group["params"] for group in optimizer.param_groups)
    vit = {id(p) for p in module.model.vit.parameters()}
    assert not any(id(p) in vit for g in optimizer.param_groups for p in g["params"])
