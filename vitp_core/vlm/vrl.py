"""Visual Robustness Learning (VRL): drop a share of the visual tokens during training.

Two places to drop, one decision:

* ``late`` (the paper): the ViT sees every patch; after the projector, a random
  ``floor(n * ratio)`` of the ``n`` visual tokens of each chosen sample are removed from
  the language-model sequence, which is physically shortened.
* ``early`` (an extension): whole 2x2 patch groups are removed before the ViT blocks
  (MAE-style), so the ViT saves compute too; ``floor(n_tile * ratio)`` per tile.

``padded`` reproduces the official release: tokens are dropped but the sequence is
padded back to its old length, so nothing is saved (kept for benchmarks).

Surviving tokens keep their original position ids (RoPE positions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

__all__ = ["CompactSequences", "VRLConfig", "compact_sequences", "draw_visual_drop"]

VRLMode = Literal["late", "early", "padded"]


@dataclass(frozen=True)
class VRLConfig:
    """VRL settings.

    Attributes:
        ratio: Share of a sample's visual tokens dropped, in ``[0, 1)``.
        apply_prob: Probability that a sample is dropped at all (1.0 the paper's
            wording, 0.25 the official release).
        mode: ``"late"``, ``"early"`` or ``"padded"`` (see module docs).
    """

    ratio: float = 0.75
    apply_prob: float = 1.0
    mode: VRLMode = "late"

    def __post_init__(self) -> None:
        if not 0.0 <= self.ratio < 1.0:
            raise ValueError(f"vrl ratio must be in [0, 1), got {self.ratio}.")
        if not 0.0 <= self.apply_prob <= 1.0:
            raise ValueError(f"vrl apply_prob must be in [0, 1], got {self.apply_prob}.")
        if self.mode not in ("late", "early", "padded"):
            raise ValueError(f"vrl mode must be late, early or padded, got {self.mode!r}.")

    @property
    def enabled(self) -> bool:
        """Whether any token can be dropped."""
        return self.ratio > 0 and self.apply_prob > 0


def _drop_k_random(
    groups: torch.Tensor, k: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """Mark ``k[g]`` random members of each group ``g`` of a flat index space.

    Args:
        groups: Group id of each element, shape ``(N,)``, values in ``[0, G)``.
        k: Number of elements to mark per group, shape ``(G,)``.
        generator: Random generator (``None`` uses the global one).

    Returns:
        Boolean mask of shape ``(N,)``.
    """
    scores = torch.rand(groups.shape, generator=generator, device=groups.device)
    # Sort by (group, score): the first k[g] of each group after sorting are dropped.
    order = torch.argsort(groups.double() * 2.0 + scores.double())
    sorted_groups = groups[order]
    starts = torch.searchsorted(sorted_groups, sorted_groups, right=False)
    rank_in_group = torch.arange(groups.numel(), device=groups.device) - starts
    mask = torch.zeros_like(groups, dtype=torch.bool)
    mask[order] = rank_in_group < k[sorted_groups]
    return mask


def draw_visual_drop(
    config: VRLConfig,
    tile_sample: torch.Tensor,
    tokens_per_tile: int,
    num_samples: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Decide which visual tokens to drop, one independent draw per sample.

    Args:
        config: VRL settings.
        tile_sample: Sample index of each tile, shape ``(T,)``.
        tokens_per_tile: Visual tokens per tile (after pixel shuffle).
        num_samples: Number of samples ``B`` in the batch.
        generator: Random generator for reproducible draws.

    Returns:
        Boolean mask, shape ``(T, tokens_per_tile)``: ``True`` = dropped.
    """
    device = tile_sample.device
    num_tiles = tile_sample.numel()
    if not config.enabled or num_tiles == 0:
        return torch.zeros(num_tiles, tokens_per_tile, dtype=torch.bool, device=device)
    applied = torch.rand(num_samples, generator=generator, device=device) < config.apply_prob
    if config.mode == "early":
        groups = torch.arange(num_tiles, device=device).repeat_interleave(tokens_per_tile)
        per_tile = math.floor(tokens_per_tile * config.ratio)
        k = applied[tile_sample].long() * per_tile
    else:
        groups = tile_sample.repeat_interleave(tokens_per_tile)
        counts = torch.bincount(tile_sample, minlength=num_samples) * tokens_per_tile
        k = torch.floor(counts.double() * config.ratio).long() * applied.long()
    return _drop_k_random(groups, k, generator).reshape(num_tiles, tokens_per_tile)


@dataclass
class CompactSequences:
    """A batch after removing tokens, padded to its new longest row.

    Attributes:
        input_ids: ``(B, L')`` token ids.
        labels: ``(B, L')`` targets, ``-100`` where masked.
        attention_mask: ``(B, L')``, 1 for real tokens.
        position_ids: ``(B, L')`` original positions of the kept tokens.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor


def compact_sequences(
    input_ids: torch.Tensor,
    labels: torch.Tensor,
    attention_mask: torch.Tensor,
    drop: torch.Tensor,
    pad_token_id: int,
    keep_length: bool = False,
) -> CompactSequences:
    """Remove the ``drop`` positions and left-align what remains in each row.

    Args:
        input_ids: ``(B, L)`` token ids.
        labels: ``(B, L)`` targets.
        attention_mask: ``(B, L)`` with 1 for real tokens.
        drop: ``(B, L)`` bool, positions to remove.
        pad_token_id: Id written into padding.
        keep_length: Pad back to ``L`` (the official behaviour) instead of the new maximum.

    Returns:
        The compacted batch; rows keep their order and tokens their original positions.
    """
    real = attention_mask.bool()
    position_ids = (real.long().cumsum(1) - 1).clamp(min=0)
    keep = real & ~drop
    lengths = keep.sum(1)
    new_len = (
        input_ids.shape[1] if keep_length else int(lengths.max().item()) if len(lengths) else 0
    )
    order = torch.sort((~keep).to(torch.int8), dim=1, stable=True).indices[:, :new_len]
    valid = torch.arange(new_len, device=input_ids.device)[None, :] < lengths[:, None]
    return CompactSequences(
        input_ids=torch.where(valid, input_ids.gather(1, order), pad_token_id),
        labels=torch.where(valid, labels.gather(1, order), -100),
        attention_mask=valid.long(),
        position_ids=torch.where(valid, position_ids.gather(1, order), 0),
    )
