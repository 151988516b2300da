"""Optimizer parameter groups: vitp's weight-decay recipe and the official release's."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import Qwen2Config, Qwen2ForCausalLM

from vitp_core.backbone import create_backbone
from vitp_core.training.schedule import optimizer_parameter_groups
from vitp_core.vlm.projector import VisualProjector


class TinyVLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.vit = create_backbone(
            "vitp_intern300m_patch14_448", img_size=28, depth=1, embed_dim=32, num_heads=2
        )
        config = Qwen2Config(
            vocab_size=64,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
        )
        self.language_model = Qwen2ForCausalLM(config)
        self.projector = VisualProjector(4 * 32, 16)


def _settings(groups: list[dict]) -> dict[int, tuple[float, float]]:
    out: dict[int, tuple[float, float]] = {}
    for group in groups:
        for param in group["params"]:
            assert id(param) not in out, "a parameter in two groups"
            out[id(param)] = (group["lr"], group["weight_decay"])
    return out


@pytest.fixture(scope="module")
def model() -> TinyVLM:
    torch.manual_seed(0)
    return TinyVLM()


def test_official_recipe_decays_every_parameter(model: TinyVLM) -> None:
    groups = optimizer_parameter_groups(
        model, vit=model.vit, lr=2e-5, vit_lr_scale=0.5, weight_decay=0.01, recipe="official"
    )
    settings = _settings(groups)
    named = dict(model.named_parameters())
    assert set(settings) == {id(p) for p in named.values()}
    for name, param in named.items():
        lr, decay = settings[id(param)]
        assert decay == 0.01, name  # norms, biases, LayerScale, embeddings included
        assert lr == pytest.approx(1e-5 if name.startswith("vit.") else 2e-5), name
    for name in ("vit.blocks.0.norm1.weight", "vit.blocks.0.ls1.gamma", "vit.pos_embed"):
        assert settings[id(named[name])][1] == 0.01
    assert len(groups) == 2  # ViT and the rest


def test_vitp_recipe_exempts_biases_norms_layerscale_and_embeddings(model: TinyVLM) -> None:
    groups = optimizer_parameter_groups(model, vit=model.vit, lr=1e-4, weight_decay=0.05)
    settings = _settings(groups)
    named = dict(model.named_parameters())
    exempt = {
        "vit.cls_token",
        "vit.pos_embed",
        "vit.blocks.0.norm1.weight",
        "vit.blocks.0.attn.qkv.bias",
        "vit.blocks.0.ls1.gamma",
        "projector.0.weight",
        "language_model.model.norm.weight",
    }
    decayed = {"vit.patch_embed.proj.weight", "vit.blocks.0.attn.qkv.weight", "projector.1.weight"}
    for name in exempt:
        assert settings[id(named[name])][1] == 0.0, name
    for name in decayed:
        assert settings[id(named[name])][1] == 0.05, name
    assert {lr for lr, _ in settings.values()} == {1e-4}


def test_frozen_parameters_are_left_out_and_unknown_recipes_refused(model: TinyVLM) -> None:
    for param in model.language_model.parameters():
        param.requires_grad_(False)
    try:
        groups = optimizer_parameter_groups(
            model, vit=model.vit, lr=1.0, weight_decay=0.01, recipe="official"
        )
        trainable = {id(p) for p in model.parameters() if p.requires_grad}
        assert set(_settings(groups)) == trainable
    finally:
        for param in model.language_model.parameters():
            param.requires_grad_(True)
    with pytest.raises(ValueError, match="optimizer recipe must be one of"):
        optimizer_parameter_groups(model, lr=1.0, weight_decay=0.0, recipe="adam")  # type: ignore[arg-type]
