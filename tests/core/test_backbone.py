import pytest
import timm
import torch

from vitp_core.backbone import VITP_MODEL_NAMES, create_backbone, encode_patch_tokens


@pytest.mark.parametrize("name", VITP_MODEL_NAMES)
def test_every_name_is_registered_with_timm(name: str) -> None:
    assert name in timm.list_models("vitp_*")


def test_intern300m_shape_matches_timm_internvit() -> None:
    ours = create_backbone("vitp_intern300m_patch14_448", img_size=56, depth=2)
    ref = timm.create_model("vit_intern300m_patch14_448", img_size=56, depth=2)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    assert ours.embed_dim == 1024 and ours.patch_embed.patch_size == (14, 14)


@pytest.mark.parametrize("bands", [1, 2, 4, 13])
def test_any_band_count_and_input_size(bands: int) -> None:
    vit = create_backbone("vitp_tiny_patch16_224", in_chans=bands, img_size=32, depth=1)
    tokens = encode_patch_tokens(vit, torch.randn(2, bands, 48, 80))
    assert tokens.shape == (2, 3 * 5, 192)


def test_keep_index_runs_only_kept_patches_and_keeps_positions() -> None:
    torch.manual_seed(0)
    vit = create_backbone("vitp_tiny_patch16_224", img_size=32, depth=0, embed_dim=16, num_heads=2)
    vit.eval()
    pixels = torch.randn(1, 3, 32, 32)
    full = encode_patch_tokens(vit, pixels)
    keep = torch.tensor([[3, 1]])
    # With no blocks, kept tokens must equal the same patches of the full pass (same positions).
    torch.testing.assert_close(encode_patch_tokens(vit, pixels, keep), full[:, [3, 1]])


def _grid_positions(vit, height: int, width: int) -> torch.Tensor:
    """Position embeddings the ViT adds at a ``height x width`` patch grid: ``(1, 1 + N, D)``."""
    tokens = torch.zeros(1, height, width, vit.embed_dim)
    with torch.no_grad():
        return vit._pos_embed(tokens) - torch.cat([vit.cls_token, tokens.flatten(1, 2)], dim=1)


def test_internvit_architecture_resizes_positions_without_antialias() -> None:
    torch.manual_seed(0)
    vit = create_backbone(
        "vitp_intern300m_patch14_448", img_size=56, depth=0, embed_dim=32, num_heads=2
    )
    vit.pos_embed.data.normal_()
    grid = vit.pos_embed[:, 1:].reshape(1, 4, 4, 32).permute(0, 3, 1, 2)
    for size in ((2, 2), (6, 6), (3, 7)):
        # InternViT's InternVisionEmbeddings._get_pos_embed: plain bicubic, CLS kept.
        resized = torch.nn.functional.interpolate(
            grid, size=size, mode="bicubic", align_corners=False
        )
        expected = torch.cat([vit.pos_embed[:, :1], resized.flatten(2).transpose(1, 2)], dim=1)
        torch.testing.assert_close(_grid_positions(vit, *size), expected)
    torch.testing.assert_close(_grid_positions(vit, 4, 4), vit.pos_embed.detach())


def test_vitp_models_keep_timm_resizing() -> None:
    torch.manual_seed(0)
    ours = create_backbone("vitp_tiny_patch16_224", img_size=64, depth=1)
    stock = timm.create_model(
        "vit_tiny_patch16_224", img_size=64, depth=1, num_classes=0, dynamic_img_size=True
    )
    stock.load_state_dict(ours.state_dict())
    pixels = torch.randn(1, 3, 96, 80)
    with torch.no_grad():
        torch.testing.assert_close(
            ours.eval().forward_features(pixels), stock.eval().forward_features(pixels)
        )
    assert ours.pos_embed_antialias
