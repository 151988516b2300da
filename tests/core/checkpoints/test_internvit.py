"""Official InternViT layout <-> timm ViT: mapping, loading, resizing, equivalence, round trip."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tiny_checkpoints import TINY_ARCH, make_internvit_state, write_internvit_folder

from vitp_core.backbone import encode_patch_tokens
from vitp_core.checkpoints.internvit import (
    INTERNVL_NON_VISION_PREFIXES,
    InternViTKeyError,
    infer_internvit_arch,
    internvit_to_timm,
    is_internvit_state_dict,
    load_internvit_backbone,
    read_internvit_config,
    timm_to_internvit,
)

HEADS = TINY_ARCH["num_heads"]
NATIVE_PX = TINY_ARCH["patch"] * TINY_ARCH["grid"]  # 56


def reference_internvit(
    state: dict[str, torch.Tensor], pixels: torch.Tensor, num_heads: int
) -> torch.Tensor:
    """InternViT-300M forward written from the architecture description, independent of timm.

    Conv patch embedding; CLS token; position embedding with the CLS position first and the
    patch grid resized bicubically (align_corners=False) to the input grid; per layer
    ``x + ls1 * attn(LN(x))`` and ``x + ls2 * mlp(LN(x))`` with LayerNorm eps 1e-6, fused
    q|k|v with bias, softmax(q k^T / sqrt(head_dim)), exact GELU; no final norm.

    Returns:
        All tokens (CLS first), shape ``(B, 1 + N, D)``.
    """
    s = {k: v.float() for k, v in state.items()}
    patch = s["embeddings.patch_embedding.weight"]
    x = F.conv2d(pixels, patch, s["embeddings.patch_embedding.bias"], stride=patch.shape[-1])
    batch, dim, grid_h, grid_w = x.shape
    x = x.flatten(2).transpose(1, 2)
    cls = s["embeddings.class_embedding"].expand(batch, 1, dim)
    x = torch.cat([cls, x], dim=1)
    pos = s["embeddings.position_embedding"]
    stored = math.isqrt(pos.shape[1] - 1)
    grid_pos = pos[:, 1:].reshape(1, stored, stored, dim).permute(0, 3, 1, 2)
    grid_pos = F.interpolate(grid_pos, size=(grid_h, grid_w), mode="bicubic", align_corners=False)
    grid_pos = grid_pos.reshape(1, dim, grid_h * grid_w).permute(0, 2, 1)
    x = x + torch.cat([pos[:, :1], grid_pos], dim=1)
    depth = 1 + max(int(k.split(".")[2]) for k in s if k.startswith("encoder.layers."))
    head_dim = dim // num_heads
    for i in range(depth):
        p = f"encoder.layers.{i}."
        h = F.layer_norm(x, (dim,), s[p + "norm1.weight"], s[p + "norm1.bias"], eps=1e-6)
        qkv = F.linear(h, s[p + "attn.qkv.weight"], s[p + "attn.qkv.bias"])
        q, k, v = qkv.reshape(batch, -1, 3, num_heads, head_dim).permute(2, 0, 3, 1, 4)
        attn = ((q * head_dim**-0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        h = (attn @ v).transpose(1, 2).reshape(batch, -1, dim)
        x = x + s[p + "ls1"] * F.linear(h, s[p + "attn.proj.weight"], s[p + "attn.proj.bias"])
        h = F.layer_norm(x, (dim,), s[p + "norm2.weight"], s[p + "norm2.bias"], eps=1e-6)
        h = F.gelu(F.linear(h, s[p + "mlp.fc1.weight"], s[p + "mlp.fc1.bias"]))
        x = x + s[p + "ls2"] * F.linear(h, s[p + "mlp.fc2.weight"], s[p + "mlp.fc2.bias"])
    return x


def _save(state: dict[str, torch.Tensor], path: Path) -> Path:
    save_file({k: v.contiguous() for k, v in state.items()}, path)
    return path


def test_recognises_official_layout(internvit_state: dict[str, torch.Tensor]) -> None:
    assert is_internvit_state_dict(internvit_state)
    assert is_internvit_state_dict({"vision_model." + k: v for k, v in internvit_state.items()})
    assert not is_internvit_state_dict(internvit_to_timm(internvit_state))


def test_mapping_is_an_exact_round_trip(internvit_state: dict[str, torch.Tensor]) -> None:
    timm_state = internvit_to_timm(internvit_state)
    assert len(timm_state) == len(internvit_state)
    assert {"cls_token", "pos_embed", "blocks.1.ls2.gamma", "blocks.0.attn.qkv.bias"} <= set(
        timm_state
    )
    back = timm_to_internvit(timm_state)
    assert back.keys() == internvit_state.keys()
    assert all(torch.equal(back[k], internvit_state[k]) for k in back)


def test_mapped_keys_fill_the_timm_model_exactly(internvit_state: dict[str, torch.Tensor]) -> None:
    from vitp_core.backbone import create_backbone

    small = {"depth": 2, "embed_dim": 64, "num_heads": HEADS, "mlp_ratio": 2.0, "img_size": 56}
    # vitp's name and timm's own InternViT-300M definition take the same state dict.
    for name in ("vitp_intern300m_patch14_448", "vit_intern300m_patch14_448"):
        vit = create_backbone(name, **small)
        vit.load_state_dict(internvit_to_timm(internvit_state), strict=True)


def test_vision_model_prefix_is_stripped(internvit_state: dict[str, torch.Tensor]) -> None:
    prefixed = {"vision_model." + k: v for k, v in internvit_state.items()}
    assert internvit_to_timm(prefixed).keys() == internvit_to_timm(internvit_state).keys()
    exported = timm_to_internvit(internvit_to_timm(prefixed), prefix="vision_model.")
    assert exported.keys() == prefixed.keys()


def test_unmappable_keys_raise_with_their_name(internvit_state: dict[str, torch.Tensor]) -> None:
    with_qk_norm = internvit_state | {"encoder.layers.0.attn.q_norm.weight": torch.ones(64)}
    with pytest.raises(InternViTKeyError, match=r"encoder\.layers\.0\.attn\.q_norm\.weight"):
        internvit_to_timm(with_qk_norm)
    with pytest.raises(InternViTKeyError, match=r"'norm\.weight'.*final_norm=False"):
        timm_to_internvit(internvit_to_timm(internvit_state) | {"norm.weight": torch.ones(64)})


def test_full_internvl_checkpoint_needs_the_other_parts_ignored(
    internvit_state: dict[str, torch.Tensor],
) -> None:
    full = {"vision_model." + k: v for k, v in internvit_state.items()}
    full |= {"mlp1.0.weight": torch.ones(256), "language_model.lm_head.weight": torch.ones(8, 4)}
    with pytest.raises(InternViTKeyError, match=r"mlp1\.0\.weight"):
        internvit_to_timm(full)
    vision = internvit_to_timm(full, ignore_prefixes=INTERNVL_NON_VISION_PREFIXES)
    assert vision.keys() == internvit_to_timm(internvit_state).keys()


def test_architecture_is_read_off_the_tensors(internvit_state: dict[str, torch.Tensor]) -> None:
    arch = infer_internvit_arch(internvit_state, num_heads=HEADS)
    assert (arch.embed_dim, arch.depth, arch.num_heads, arch.mlp_ratio) == (64, 2, HEADS, 2.0)
    assert (arch.patch_size, arch.grid_size, arch.img_size, arch.in_chans) == (14, 4, 56, 3)
    assert arch.qkv_bias
    assert infer_internvit_arch(internvit_state).num_heads == 1  # 64 // 64, the 300M rule
    with pytest.raises(ValueError, match="num_heads=3 does not divide"):
        infer_internvit_arch(internvit_state, num_heads=3)
    gap = {k: v for k, v in internvit_state.items() if not k.startswith("encoder.layers.0.")}
    with pytest.raises(ValueError, match=r"layers \[1\]"):
        infer_internvit_arch(gap)
    rms = {k: v for k, v in internvit_state.items() if not k.endswith("norm1.bias")}
    with pytest.raises(ValueError, match="RMSNorm"):
        infer_internvit_arch(rms)


def test_full_size_shape_inference_matches_internvit_300m() -> None:
    meta = torch.device("meta")
    state = {
        k: torch.empty(v.shape, device=meta)
        for k, v in make_internvit_state(embed_dim=4, depth=1, mlp_hidden=16, grid=2).items()
    }
    big = {}
    for k, v in state.items():  # same names, full-size shapes (no memory: meta tensors)
        shape = [1024 if s == 4 else 4096 if s == 16 else s for s in v.shape]
        if k.endswith("qkv.weight"):
            shape = [3072, 1024]
        elif k.endswith("qkv.bias"):
            shape = [3072]
        elif k.endswith("position_embedding"):
            shape = [1, 1 + 32 * 32, 1024]
        big[k] = torch.empty(shape, device=meta)
    big |= {k.replace("layers.0.", f"layers.{i}."): v for i in range(1, 24) for k, v in big.items()}
    arch = infer_internvit_arch(big)
    assert (arch.embed_dim, arch.depth, arch.num_heads, arch.mlp_ratio) == (1024, 24, 16, 4.0)
    assert (arch.patch_size, arch.img_size) == (14, 448)


@pytest.mark.parametrize("pixels_px", [NATIVE_PX, 84])
def test_converted_model_matches_independent_internvit_forward(
    internvit_state: dict[str, torch.Tensor], tmp_path: Path, pixels_px: int
) -> None:
    path = _save(internvit_state, tmp_path / "ViTP_ViT_L_300M_rs.safetensors")
    vit = load_internvit_backbone(path, num_heads=HEADS, img_size=pixels_px)
    pixels = torch.randn(2, 3, pixels_px, pixels_px, generator=torch.Generator().manual_seed(1))
    expected = reference_internvit(internvit_state, pixels, HEADS)
    with torch.no_grad():
        tokens = vit.forward_features(pixels)
        patches = encode_patch_tokens(vit, pixels)
    torch.testing.assert_close(tokens, expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(patches, expected[:, 1:], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("pixels_px", [28, 84, 112])
def test_run_time_sizes_resize_positions_as_internvit_does(
    internvit_state: dict[str, torch.Tensor], pixels_px: int
) -> None:
    """Built at the stored 56 px, fed other sizes: the grid is resized on the fly without
    antialiasing, as InternViT's embeddings do (timm's antialiased resize is 0.06-0.5 off)."""
    from vitp_core.checkpoints.internvit import build_internvit_backbone

    vit = build_internvit_backbone(internvit_state, num_heads=HEADS)
    assert tuple(vit.patch_embed.grid_size) == (TINY_ARCH["grid"],) * 2
    pixels = torch.randn(2, 3, pixels_px, pixels_px, generator=torch.Generator().manual_seed(2))
    expected = reference_internvit(internvit_state, pixels, HEADS)
    with torch.no_grad():
        torch.testing.assert_close(vit.forward_features(pixels), expected, atol=1e-4, rtol=1e-4)
        # The patch-token path of VRL goes through the same resize.
        patches = encode_patch_tokens(vit, pixels)
        torch.testing.assert_close(patches, expected[:, 1:], atol=1e-4, rtol=1e-4)
        vit.pos_embed_antialias = True  # timm's own resize, for contrast
        assert not torch.allclose(vit.forward_features(pixels), expected, atol=1e-2)


def test_hf_folder_supplies_heads_and_bf16_weights_load(
    internvit_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    folder = write_internvit_folder(tmp_path / "InternViT", internvit_state, num_heads=HEADS)
    assert read_internvit_config(folder)["num_attention_heads"] == HEADS
    vit = load_internvit_backbone(folder)
    assert vit.blocks[0].attn.num_heads == HEADS
    stored = load_file(folder / "model.safetensors")
    pixels = torch.randn(1, 3, NATIVE_PX, NATIVE_PX, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(
            vit.forward_features(pixels),
            reference_internvit(stored, pixels, HEADS),
            atol=1e-4,
            rtol=1e-4,
        )


def test_unsupported_vision_config_is_refused(
    internvit_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    folder = write_internvit_folder(tmp_path / "six_b", internvit_state, num_heads=HEADS)
    config = (
        (folder / "config.json")
        .read_text()
        .replace('"qk_normalization": false', '"qk_normalization": true')
    )
    (folder / "config.json").write_text(config)
    with pytest.raises(ValueError, match="qk_normalization=true"):
        load_internvit_backbone(folder)


def test_patch_embedding_resized_14_to_16_preserves_patch_tokens(
    internvit_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    path = _save(internvit_state, tmp_path / "vit.safetensors")
    vit14 = load_internvit_backbone(path, num_heads=HEADS)
    vit16 = load_internvit_backbone(path, num_heads=HEADS, patch_size=16)
    assert vit16.patch_embed.proj.weight.shape[-2:] == (16, 16)
    assert vit16.patch_embed.grid_size == (4, 4)  # same grid: img_size follows the patch
    pixels = torch.randn(1, 3, NATIVE_PX, NATIVE_PX, generator=torch.Generator().manual_seed(3))
    tiles = pixels.unfold(2, 14, 14).unfold(3, 14, 14).reshape(1, 3, -1, 14, 14)
    tiles = tiles.permute(0, 2, 1, 3, 4).reshape(-1, 3, 14, 14)
    upsampled = F.interpolate(tiles, size=(16, 16), mode="bicubic", align_corners=False)
    with torch.no_grad():
        per_patch16 = vit16.patch_embed.proj(upsampled).flatten(1)
        per_patch14 = vit14.patch_embed.proj(tiles).flatten(1)
    # FlexiViT pseudo-inverse resampling: <resize(x), w16> == <x, w14> for upsampled patches.
    torch.testing.assert_close(per_patch16, per_patch14, atol=1e-4, rtol=1e-4)


def test_position_grid_and_bands_follow_the_target(
    internvit_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    path = _save(internvit_state, tmp_path / "vit.safetensors")
    vit = load_internvit_backbone(path, num_heads=HEADS, patch_size=16, img_size=96, in_chans=4)
    assert vit.pos_embed.shape == (1, 1 + 6 * 6, 64)
    assert vit.patch_embed.proj.weight.shape == (64, 4, 16, 16)
    with torch.no_grad():
        assert encode_patch_tokens(vit, torch.randn(1, 4, 64, 96)).shape == (1, 4 * 6, 64)


def test_weights_only_pickle_with_wrapper_loads(
    internvit_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    path = tmp_path / "vitp.pth"
    torch.save({"model": {"vision_model." + k: v for k, v in internvit_state.items()}}, path)
    vit = load_internvit_backbone(path, num_heads=HEADS)
    torch.testing.assert_close(vit.cls_token, internvit_state["embeddings.class_embedding"])


def test_train_export_reload_accounts_for_every_key(
    internvit_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    path = _save(internvit_state, tmp_path / "vit.safetensors")
    vit = load_internvit_backbone(path, num_heads=HEADS, drop_path_rate=0.1).train()
    optimizer = torch.optim.AdamW(vit.parameters(), lr=1e-3)
    pixels = torch.randn(2, 3, NATIVE_PX, NATIVE_PX, generator=torch.Generator().manual_seed(4))
    loss = encode_patch_tokens(vit, pixels).square().mean()
    loss.backward()
    optimizer.step()
    assert not torch.equal(vit.cls_token, internvit_state["embeddings.class_embedding"])

    exported = timm_to_internvit(vit.state_dict())
    assert exported.keys() == internvit_state.keys()
    out = _save(exported, tmp_path / "exported.safetensors")
    reloaded = load_internvit_backbone(out, num_heads=HEADS)
    vit.eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded.forward_features(pixels), vit.forward_features(pixels))
    torch.testing.assert_close(
        reference_internvit(load_file(out), pixels, HEADS), vit.forward_features(pixels).detach()
    )
