"""2D -> 3D weight inflation and position-grid resampling for ViT patch embeddings.

A ViTP backbone is pretrained on 2D images. To use it on volumes, its two
grid-dependent tensors are rebuilt for a 3D grid; every transformer block is kept as is.

Axis convention: MONAI volumes are ``(B, C, H, W, D)``. The 2D kernel acts in the
``(H, W)`` plane and is repeated along ``D`` (the last spatial axis, the axial index
of a volume in RAS orientation).

What is kept:
    * Patch kernel: each 2D kernel ``w`` becomes ``w / p_d`` at every one of the
      ``p_d`` depth taps, so a volume that is constant along ``D`` gives exactly the
      2D response of one slice (I3D-style "repeat and rescale").
    * Position embedding: the in-plane 2D grid is resampled (bicubic) to the new
      in-plane grid and copied to every depth index. In-plane positions are kept;
      depth position is not encoded at first (identical for all slices) and is
      learned in fine-tuning, since the position embedding stays trainable.
    * Prefix (class/register) token embeddings are kept unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from timm.layers import resample_abs_pos_embed, resample_patch_embed
from timm.models import adapt_input_conv

__all__ = [
    "adapt_patch_kernel",
    "inflate_patch_kernel",
    "inflate_pos_embed",
    "resample_pos_embed",
    "resample_pos_embed_3d",
]


def inflate_patch_kernel(weight: torch.Tensor, depth: int) -> torch.Tensor:
    """Inflate a 2D patch-embedding kernel to 3D by repeating and rescaling along depth.

    Args:
        weight: Conv2d kernel, shape ``(D_embed, C, p_h, p_w)``.
        depth: Kernel size along the new last axis ``p_d`` (voxels).

    Returns:
        Conv3d kernel, shape ``(D_embed, C, p_h, p_w, p_d)``, equal to ``weight / p_d``
        at every depth tap.
    """
    if weight.ndim != 4:
        raise ValueError(
            f"Expected a 4D Conv2d kernel (O, C, p_h, p_w), got shape {tuple(weight.shape)}."
        )
    if depth < 1:
        raise ValueError(f"Kernel depth must be >= 1, got {depth}.")
    return weight.unsqueeze(-1).repeat(1, 1, 1, 1, depth) / depth


def adapt_patch_kernel(
    weight: torch.Tensor, in_channels: int, patch_size: Sequence[int]
) -> torch.Tensor:
    """Fit a pretrained patch kernel to a target channel count, patch size and dimensionality.

    Channels are adapted with timm's ``adapt_input_conv`` (sum for 1 channel, repeat and
    rescale for more), the in-plane size with timm's ``resample_patch_embed``
    (pseudo-inverse resampling, FlexiViT), then a 2D kernel is inflated to 3D when
    ``patch_size`` has three entries.

    Args:
        weight: Source kernel, ``(O, C, p_h, p_w)`` or ``(O, C, p_h, p_w, p_d)``.
        in_channels: Target input channels.
        patch_size: Target patch size, 2 or 3 entries (pixels/voxels).

    Returns:
        Kernel of shape ``(O, in_channels, *patch_size)``.

    Raises:
        ValueError: For a 3D source whose kernel differs from the 3D target, or a
            3D source with a 2D target.
    """
    patch_size = tuple(int(p) for p in patch_size)
    if weight.ndim == 5:
        if len(patch_size) != 3 or tuple(weight.shape[2:]) != patch_size:
            raise ValueError(
                f"A 3D patch kernel of shape {tuple(weight.shape)} can only load into a 3D patch "
                f"embedding with the same kernel, not patch_size={patch_size}."
            )
        if weight.shape[1] != in_channels:
            depth = weight.shape[-1]
            weight2d = weight.sum(-1)
            return inflate_patch_kernel(
                adapt_input_conv(in_channels, weight2d, weight.shape[1]), depth
            )
        return weight
    if weight.shape[1] != in_channels:
        weight = adapt_input_conv(in_channels, weight, base_chans=weight.shape[1])
    if tuple(weight.shape[2:]) != patch_size[:2]:
        weight = resample_patch_embed(weight, list(patch_size[:2]))
    if len(patch_size) == 3:
        weight = inflate_patch_kernel(weight, patch_size[2])
    return weight


def resample_pos_embed(
    pos_embed: torch.Tensor,
    new_grid: Sequence[int],
    old_grid: Sequence[int] | None = None,
    num_prefix_tokens: int = 1,
) -> torch.Tensor:
    """Resample an absolute position embedding to a new 2D or 3D token grid.

    2D -> 2D uses timm's bicubic ``resample_abs_pos_embed``; 2D -> 3D uses
    :func:`inflate_pos_embed`; 3D -> 3D uses :func:`resample_pos_embed_3d`.

    Args:
        pos_embed: ``(1, num_prefix_tokens + N, C)``.
        new_grid: Target grid, 2 or 3 entries (tokens per axis).
        old_grid: Source grid; inferred as a square (2D) or cube (3D) when ``None``.
        num_prefix_tokens: Leading prefix-token embeddings (class/register) kept as is.

    Returns:
        ``(1, num_prefix_tokens + prod(new_grid), C)``.
    """
    new_grid = tuple(int(g) for g in new_grid)
    num_grid = pos_embed.shape[1] - num_prefix_tokens
    if old_grid is None:
        old_grid = _infer_grid(num_grid)
    old_grid = tuple(int(g) for g in old_grid)
    if _prod(old_grid) != num_grid:
        raise ValueError(
            f"Position embedding has {num_grid} grid tokens, which does not match the grid "
            f"{old_grid} (after {num_prefix_tokens} prefix tokens)."
        )
    if old_grid == new_grid:
        return pos_embed
    if len(old_grid) == 2 and len(new_grid) == 2:
        return resample_abs_pos_embed(pos_embed, list(new_grid), list(old_grid), num_prefix_tokens)
    if len(old_grid) == 2 and len(new_grid) == 3:
        return inflate_pos_embed(pos_embed, new_grid, old_grid, num_prefix_tokens)
    if len(old_grid) == 3 and len(new_grid) == 3:
        return resample_pos_embed_3d(pos_embed, new_grid, old_grid, num_prefix_tokens)
    raise ValueError(f"Cannot resample a position grid {old_grid} to {new_grid}.")


def inflate_pos_embed(
    pos_embed: torch.Tensor,
    new_grid: Sequence[int],
    old_grid: Sequence[int],
    num_prefix_tokens: int = 1,
) -> torch.Tensor:
    """Build a 3D position embedding from a 2D one.

    The 2D grid is resampled (bicubic) to the in-plane target ``(g_h, g_w)`` and
    copied to each of the ``g_d`` depth indices.

    Args:
        pos_embed: 2D embedding, ``(1, num_prefix_tokens + g_h0 * g_w0, C)``.
        new_grid: 3D grid ``(g_h, g_w, g_d)`` in tokens.
        old_grid: 2D grid ``(g_h0, g_w0)`` in tokens.
        num_prefix_tokens: Leading prefix-token embeddings kept as is.

    Returns:
        ``(1, num_prefix_tokens + g_h * g_w * g_d, C)`` in ``(h, w, d)`` row-major order,
        the order of ``Conv3d(...)(x).flatten(2)``.
    """
    g_h, g_w, g_d = (int(g) for g in new_grid)
    plane = resample_abs_pos_embed(pos_embed, [g_h, g_w], list(old_grid), num_prefix_tokens)
    prefix, grid = plane[:, :num_prefix_tokens], plane[:, num_prefix_tokens:]
    channels = grid.shape[-1]
    volume = grid.reshape(1, g_h, g_w, 1, channels).expand(1, g_h, g_w, g_d, channels)
    return torch.cat([prefix, volume.reshape(1, -1, channels)], dim=1)


def resample_pos_embed_3d(
    pos_embed: torch.Tensor,
    new_grid: Sequence[int],
    old_grid: Sequence[int],
    num_prefix_tokens: int = 1,
) -> torch.Tensor:
    """Trilinearly resample a 3D position embedding to another 3D grid.

    Args:
        pos_embed: ``(1, num_prefix_tokens + prod(old_grid), C)``.
        new_grid: Target grid ``(g_h, g_w, g_d)`` in tokens.
        old_grid: Source grid in tokens.
        num_prefix_tokens: Leading prefix-token embeddings kept as is.

    Returns:
        ``(1, num_prefix_tokens + prod(new_grid), C)``.
    """
    new_grid = tuple(int(g) for g in new_grid)
    old_grid = tuple(int(g) for g in old_grid)
    if new_grid == old_grid:
        return pos_embed
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    channels = grid.shape[-1]
    dtype = grid.dtype
    volume = grid.float().reshape(1, *old_grid, channels).permute(0, 4, 1, 2, 3)
    volume = F.interpolate(volume, size=new_grid, mode="trilinear", align_corners=False)
    grid = volume.permute(0, 2, 3, 4, 1).reshape(1, -1, channels).to(dtype)
    return torch.cat([prefix, grid], dim=1)


def _prod(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def _infer_grid(num_tokens: int) -> tuple[int, ...]:
    """Guess a square (2D) grid, else a cube (3D), from a token count."""
    side = round(num_tokens**0.5)
    if side * side == num_tokens:
        return (side, side)
    side = round(num_tokens ** (1 / 3))
    if side**3 == num_tokens:
        return (side, side, side)
    raise ValueError(
        f"Cannot infer the position grid of {num_tokens} tokens (neither a square nor a cube); "
        "pass old_grid, or use a vitp export whose sidecar records img_size and patch_size."
    )
