"""InternVL's pixel shuffle: merge each 2x2 patch neighbourhood into one visual token.

With ratio 0.5 a ``(gh, gw)`` grid of width-``D`` patch features becomes a
``(gh/2, gw/2)`` grid of width-``4D`` tokens, in the channel order of InternVL's
``pixel_shuffle`` with ``ps_version="v2"``.
"""

from __future__ import annotations

import functools

import torch

__all__ = ["pixel_shuffle", "pixel_shuffle_index"]


def pixel_shuffle(x: torch.Tensor, scale_factor: float = 0.5) -> torch.Tensor:
    """Space-to-channel shuffle exactly as InternVL's ``pixel_shuffle`` (v2).

    Args:
        x: Patch features on their grid, shape ``(B, gh, gw, D)``; ``gh`` and ``gw``
            divisible by ``1 / scale_factor``.
        scale_factor: Spatial scale; 0.5 merges 2x2 neighbours.

    Returns:
        Shape ``(B, gh * s, gw * s, D / s**2)``.
    """
    n, h, w, c = x.shape
    if (h * scale_factor) % 1 or (w * scale_factor) % 1:
        raise ValueError(
            f"patch grid {h}x{w} is not divisible by {1 / scale_factor:g}: use an image size "
            f"that is a multiple of {1 / scale_factor:g} x the patch size."
        )
    x = x.reshape(n, h, int(w * scale_factor), int(c / scale_factor))
    x = x.permute(0, 2, 1, 3).contiguous()
    x = x.view(
        n, int(w * scale_factor), int(h * scale_factor), int(c / (scale_factor * scale_factor))
    )
    return x.permute(0, 2, 1, 3).contiguous()


@functools.lru_cache(maxsize=64)
def pixel_shuffle_index(grid_h: int, grid_w: int) -> torch.Tensor:
    """Patch indices behind each visual token, in pixel-shuffle channel order.

    ``patches[:, index.flatten()].reshape(B, -1, 4 * D)`` equals
    ``pixel_shuffle(patches.reshape(B, grid_h, grid_w, D)).reshape(B, -1, 4 * D)``,
    which lets early VRL keep whole 2x2 groups of patches.

    Args:
        grid_h: Patch rows.
        grid_w: Patch columns.

    Returns:
        Long tensor of shape ``(grid_h * grid_w / 4, 4)``, row-major over visual tokens.
    """
    order = torch.arange(grid_h * grid_w, dtype=torch.float64).reshape(1, grid_h, grid_w, 1)
    return pixel_shuffle(order).reshape(-1, 4).long()
