from pathlib import Path

import pytest
import torch

from vitp_torchgeo.models import vitp_intern300m_patch14_448, vitp_tiny_patch16_224
from vitp_torchgeo.weights import read_weights


def test_builder_takes_architecture_from_the_export(tiny_export: Path) -> None:
    model = vitp_tiny_patch16_224(str(tiny_export))
    assert len(model.blocks) == 2 and model.embed_dim == 32
    reference = read_weights(tiny_export).state_dict
    assert torch.equal(model.pos_embed, reference["pos_embed"])


def test_builder_adapts_bands(tiny_export: Path) -> None:
    with pytest.warns(UserWarning, match="partial|matched"):
        model = vitp_tiny_patch16_224(tiny_export, bands=["red", "green", "blue", "nir"])
    assert model.patch_embed.proj.in_channels == 4
    assert model(torch.randn(1, 4, 32, 64)).shape == (1, 32)


def test_builder_without_weights() -> None:
    model = vitp_intern300m_patch14_448(depth=1, embed_dim=32, num_heads=2, img_size=28)
    assert model(torch.randn(1, 3, 28, 42)).shape == (1, 32)
