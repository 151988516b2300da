import pytest
import torch
from monai.networks.nets import UNETR, ViT
from vitp_monai_helpers import TINY, tiny_vit

from vitp_core.backbone import create_backbone
from vitp_monai.networks import (
    monai_unetr_to_timm,
    monai_vit_to_timm,
    set_layer_norm_eps,
    timm_to_monai_unetr,
    timm_to_monai_vit,
)


def monai_vit(**overrides: object) -> ViT:
    kwargs = {
        "in_channels": 3,
        "img_size": 32,
        "patch_size": 16,
        "hidden_size": TINY["embed_dim"],
        "mlp_dim": 4 * TINY["embed_dim"],
        "num_layers": TINY["depth"],
        "num_heads": TINY["num_heads"],
        "classification": True,
        "num_classes": 2,
        "post_activation": None,
        "spatial_dims": 2,
        "qkv_bias": True,
        **overrides,
    }
    return ViT(**kwargs).eval()


@pytest.mark.parametrize("layer_scale", [None, 0.1])
def test_timm_monai_timm_round_trip_gives_identical_outputs(layer_scale: float | None) -> None:
    timm_model = tiny_vit(init_values=layer_scale, num_classes=2, global_pool="token")
    x = torch.randn(2, 3, 32, 32)
    target = monai_vit()
    target.load_state_dict(timm_to_monai_vit(timm_model.state_dict()), strict=True)
    assert set_layer_norm_eps(target, 1e-6) == 2 * TINY["depth"] + 1 + TINY["depth"]
    back = create_backbone(
        "vitp_tiny_patch16_224",
        **TINY,
        img_size=32,
        init_values=layer_scale,
        num_classes=2,
        global_pool="token",
    ).eval()
    back.load_state_dict(
        monai_vit_to_timm(target.state_dict(), layer_scale=layer_scale is not None)
    )
    with torch.no_grad():
        logits_timm = timm_model(x)
        logits_monai, hidden = target(x)
        logits_back = back(x)
        tokens_timm = timm_model.forward_features(x)
    torch.testing.assert_close(logits_monai, logits_timm, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logits_back, logits_timm, rtol=1e-4, atol=1e-5)
    # MONAI's last hidden state is the pre-norm residual stream: re-apply the final norm.
    normed = torch.nn.functional.layer_norm(
        hidden[-1], (TINY["embed_dim"],), target.norm.weight, target.norm.bias, 1e-6
    )
    torch.testing.assert_close(normed, tokens_timm, rtol=1e-4, atol=1e-5)


def test_timm_to_monai_unetr_inflates_to_3d_and_leaves_decoder_missing() -> None:
    vit = create_backbone("vitp_tiny_patch16_224", depth=12, embed_dim=32, num_heads=2, img_size=64)
    unetr = UNETR(
        1,
        3,
        img_size=(32, 32, 32),
        hidden_size=32,
        mlp_dim=128,
        num_heads=2,
        qkv_bias=True,
        feature_size=4,
    )
    state = timm_to_monai_unetr(vit.state_dict(), img_size=(32, 32, 32), in_channels=1)
    result = unetr.load_state_dict(state, strict=False)
    assert result.unexpected_keys == []
    assert not [k for k in result.missing_keys if k.startswith("vit.")]
    assert unetr.vit.patch_embedding.patch_embeddings.weight.shape == (32, 1, 16, 16, 16)
    assert unetr(torch.randn(1, 1, 32, 32, 32)).shape == (1, 3, 32, 32, 32)
    back = monai_unetr_to_timm(unetr.state_dict())
    assert "cls_token" not in back and back["pos_embed"].shape == (1, 8, 32)


def test_unmappable_backbones_raise() -> None:
    with pytest.raises(ValueError, match="no counterpart in MONAI"):
        timm_to_monai_vit(tiny_vit(reg_tokens=2, no_embed_class=True).state_dict())
    with pytest.raises(ValueError, match="12-block ViT with patch 16"):
        timm_to_monai_unetr(tiny_vit().state_dict())
    with pytest.raises(ValueError, match="proj_type='conv'"):
        monai_vit_to_timm(monai_vit(proj_type="perceptron").state_dict())
