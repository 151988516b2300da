import pytest

from vitp_core.backbone import create_backbone
from vitp_torchgeo.models import ViTPUPerNet, ViTPyramidEncoder
from vitp_torchgeo.optim import layer_decay_param_groups


def test_layer_decay_over_the_vit_and_full_lr_outside() -> None:
    vit = create_backbone("vitp_tiny_patch16_224", depth=4, embed_dim=32, num_heads=2)
    model = ViTPUPerNet(ViTPyramidEncoder(vit, out_channels=16), 3, 16)
    groups = layer_decay_param_groups(model, vit, lr=1e-3, weight_decay=0.05, layer_decay=0.5)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    decay_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    assert len(lr_of) == sum(1 for _ in model.parameters())  # every parameter, once
    assert lr_of[id(vit.pos_embed)] == pytest.approx(1e-3 * 0.5**4)
    assert lr_of[id(vit.blocks[0].attn.qkv.weight)] == pytest.approx(1e-3 * 0.5**3)
    assert lr_of[id(vit.blocks[3].mlp.fc2.weight)] == pytest.approx(1e-3)
    assert lr_of[id(model.segmentation_head.weight)] == pytest.approx(1e-3)
    assert decay_of[id(vit.blocks[0].norm1.weight)] == 0.0
    assert decay_of[id(vit.pos_embed)] == 0.0
    assert decay_of[id(model.segmentation_head.weight)] == 0.05


def test_frozen_parameters_are_left_out() -> None:
    vit = create_backbone("vitp_tiny_patch16_224", depth=2, embed_dim=32, num_heads=2)
    model = ViTPUPerNet(ViTPyramidEncoder(vit, out_channels=16), 3, 16)
    for param in vit.parameters():
        param.requires_grad = False
    groups = layer_decay_param_groups(model, vit, lr=1e-3)
    in_groups = {id(p) for g in groups for p in g["params"]}
    assert not in_groups & {id(p) for p in vit.parameters()}
    assert in_groups == {id(p) for p in model.parameters() if p.requires_grad}
