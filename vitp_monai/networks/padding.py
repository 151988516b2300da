"""Zero-padding of batched 2D/3D inputs to a multiple of a stride, and the inverse crop."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["crop_to", "pad_to_multiple"]


def pad_to_multiple(x: torch.Tensor, multiple: Sequence[int]) -> torch.Tensor:
    """Zero-pad the spatial axes of ``x`` at their end up to multiples of ``multiple``.

    Args:
        x: ``(B, C, *spatial)``.
        multiple: One stride per spatial axis (pixels/voxels).

    Returns:
        ``(B, C, *padded)`` with ``padded[i] = ceil(spatial[i] / multiple[i]) * multiple[i]``;
        ``x`` itself when nothing needs padding.
    """
    spatial = x.shape[2:]
    extra = [(-size) % int(m) for size, m in zip(spatial, multiple, strict=True)]
    if not any(extra):
        return x
    pads: list[int] = []
    for amount in reversed(extra):  # F.pad lists the last axis first
        pads += [0, amount]
    return F.pad(x, pads)


def crop_to(x: torch.Tensor, spatial: Sequence[int]) -> torch.Tensor:
    """Crop the spatial axes of ``x`` (``(B, C, *padded)``) back to ``spatial`` from the start."""
    index = (slice(None), slice(None), *(slice(0, int(s)) for s in spatial))
    return x[index]
