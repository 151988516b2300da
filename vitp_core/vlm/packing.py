"""Sequence packing: several samples in one language-model row, attention kept inside each.

After VRL has shortened every sample by its own kept-token count, a padded batch wastes
the difference between each sample and the longest one. Packing places the compacted
samples one after another in rows (first fit, longest first; by default all of a batch
in one row, so nothing is padded) and the LM attends within each sample only: the rows
carry their ``segments`` (row, start, end), which the packed attention
(:mod:`vitp_core.vlm.packed_attention`) runs causal SDPA over one by one, so attention
costs what the samples cost alone. Every token keeps its original position id (RoPE
position), which restarts at 0 with each sample and keeps the gaps VRL left. The answer
loss is the unpacked batch's: the same tokens predict the same targets from the same
context (the first token of a sample is never a target, so nothing crosses a boundary).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["PackedRows", "pack_rows", "plan_rows"]


def plan_rows(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Assign samples to rows: first fit, longest first.

    Args:
        lengths: Token count of each sample.
        capacity: Most tokens in a row (a longer sample gets a row of its own).

    Returns:
        The sample indices of each row, in the order they are laid out.
    """
    rows: list[list[int]] = []
    room: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        length = lengths[index]
        for row, free in enumerate(room):
            if length <= free:
                rows[row].append(index)
                room[row] -= length
                break
        else:
            rows.append([index])
            room.append(capacity - length)
    return rows


@dataclass
class PackedRows:
    """Samples laid out in LM rows.

    Attributes:
        input_ids: ``(R, L)`` token ids (padding after the last sample of a row).
        labels: ``(R, L)`` targets, ``-100`` at padding and at each sample's first token.
        attention_mask: ``(R, L)``, 1 for real tokens.
        position_ids: ``(R, L)`` each token's position in its own sample.
        sample: ``(R, L)`` batch index of the sample a position holds, ``-1`` for padding.
        source: ``(R, L)`` flat index ``b * L_in + t`` of the packed position in the
            ``(B, L_in)`` input, ``-1`` for padding.
        segments: ``(row, start, end)`` of every sample, in row and position order.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    sample: torch.Tensor
    source: torch.Tensor
    segments: tuple[tuple[int, int, int], ...] = ()

    def gather(self, values: torch.Tensor, fill: float | int = 0) -> torch.Tensor:
        """Lay out a ``(B, L_in, ...)`` tensor of the input batch as ``(R, L, ...)``."""
        flat = values.reshape(-1, *values.shape[2:])
        picked = flat[self.source.clamp(min=0)]
        pad = (self.source < 0).reshape(*self.source.shape, *([1] * (values.dim() - 2)))
        return picked.masked_fill(pad, fill)


def pack_rows(
    input_ids: torch.Tensor,
    labels: torch.Tensor,
    attention_mask: torch.Tensor,
    position_ids: torch.Tensor,
    pad_token_id: int,
    capacity: int | None = None,
) -> PackedRows:
    """Pack the left-aligned rows of a padded batch into as few rows as fit.

    Args:
        input_ids: ``(B, L_in)`` token ids, each sample left-aligned.
        labels: ``(B, L_in)`` targets.
        attention_mask: ``(B, L_in)``, 1 for real tokens (a prefix of each row).
        position_ids: ``(B, L_in)`` position ids of the tokens (kept as they are).
        pad_token_id: Id written into padding.
        capacity: Most tokens per row; ``None``: one row holds every sample (no padding
            at all); less than the longest sample: the longest sample's length.

    Returns:
        The packed rows; every sample lies whole in one row.
    """
    lengths = attention_mask.sum(1).tolist()
    longest = max(lengths, default=0)
    rows = plan_rows(lengths, sum(lengths) if capacity is None else max(capacity, longest))
    row_length = max((sum(lengths[i] for i in row) for row in rows), default=0)
    device = input_ids.device
    source = torch.full((len(rows), row_length), -1, dtype=torch.long)
    sample = torch.full((len(rows), row_length), -1, dtype=torch.long)
    width = input_ids.shape[1]
    segments = []
    for r, row in enumerate(rows):
        start = 0
        for index in row:
            n = lengths[index]
            source[r, start : start + n] = index * width + torch.arange(n)
            sample[r, start : start + n] = index
            if n:
                segments.append((r, start, start + n))
            start += n
    source, sample = source.to(device), sample.to(device)
    packed = PackedRows(input_ids, labels, attention_mask, position_ids, sample, source)
    first = torch.zeros_like(attention_mask, dtype=torch.bool)
    first[:, 0] = True
    return PackedRows(
        input_ids=packed.gather(input_ids, pad_token_id),
        labels=packed.gather(labels.masked_fill(first, -100), -100),
        attention_mask=(source >= 0).long(),
        position_ids=packed.gather(position_ids, 0),
        sample=sample,
        source=source,
        segments=tuple(segments),
    )
