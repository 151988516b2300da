"""Fixtures: tiny random checkpoints in the official layouts (see ``tiny_checkpoints.py``)."""

from __future__ import annotations

import pytest
import torch
from tiny_checkpoints import TINY_ARCH, make_internvit_state


@pytest.fixture
def internvit_state() -> dict[str, torch.Tensor]:
    """Tiny InternViT weights, no prefix (the layout of ``ViTP_ViT_L_300M_*.safetensors``)."""
    return make_internvit_state(
        embed_dim=TINY_ARCH["embed_dim"],
        depth=TINY_ARCH["depth"],
        mlp_hidden=TINY_ARCH["mlp_hidden"],
        patch=TINY_ARCH["patch"],
        grid=TINY_ARCH["grid"],
    )
