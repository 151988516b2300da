"""Attention confined to each sample of a packed row, computed per sample (varlen attention).

Packed rows (:mod:`vitp_core.vlm.packing`) hold several samples one after another. A
block-diagonal mask would keep them apart but still computes attention over the whole
row, so the cost grows with the square of the row length. This attention function
instead runs causal SDPA on each sample's slice of the row (as flash-attention's varlen
kernels do with ``cu_seqlens``): the work is that of the samples alone, however many
share a row, and padding after the last sample is never attended.

It is registered with transformers under :data:`PACKED_ATTENTION` for attention and mask
creation alike. A language model switched to it (:func:`use_packed_attention`) behaves
exactly as with ``sdpa`` unless a forward pass receives the ``packed_segments`` keyword,
which transformers passes through the decoder layers to the attention function.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import AttentionInterface, PreTrainedModel
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

__all__ = [
    "PACKED_ATTENTION",
    "SEGMENTS_KEYWORD",
    "Segment",
    "packed_sdpa_attention",
    "restore_attention",
    "use_packed_attention",
]

#: Name of the attention implementation in transformers' registries.
PACKED_ATTENTION = "vitp_packed_sdpa"
#: Keyword argument of the LM's forward pass that carries the segments.
SEGMENTS_KEYWORD = "packed_segments"
#: ``(row, start, end)``: a sample occupies positions ``start:end`` of ``row``.
Segment = tuple[int, int, int]
#: The implementation each switched model had before, to switch back.
_PREVIOUS_KEY = "_vitp_attention_before_packing"


def packed_sdpa_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: object,
) -> tuple[torch.Tensor, None]:
    """Causal attention inside each segment; plain SDPA when no segments are given.

    Args:
        module: The attention layer (read for ``is_causal`` and the GQA group count).
        query: ``(R, H, L, D)`` queries of the packed rows.
        key: ``(R, Hkv, L, D)`` keys.
        value: ``(R, Hkv, L, D)`` values.
        attention_mask: Ignored with segments (the segments say who attends whom).
        **kwargs: ``packed_segments`` (a sequence of :data:`Segment`), and the usual
            ``dropout``, ``scaling`` ... of transformers' SDPA attention.

    Returns:
        ``(R, L, H, D)`` attention output (zeros at padding) and no weights.
    """
    segments: Sequence[Segment] | None = kwargs.pop(SEGMENTS_KEYWORD, None)  # type: ignore[assignment]
    if segments is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    kwargs.pop("is_causal", None)
    rows, _, length, _ = query.shape
    pieces: list[list[torch.Tensor]] = [[] for _ in range(rows)]
    filled = [0] * rows
    for row, start, end in segments:
        if start != filled[row]:
            raise ValueError(f"packed segments of row {row} leave a gap at position {filled[row]}")
        out, _ = sdpa_attention_forward(
            module,
            query[row : row + 1, :, start:end],
            key[row : row + 1, :, start:end],
            value[row : row + 1, :, start:end],
            None,
            is_causal=True,
            **kwargs,
        )
        pieces[row].append(out)
        filled[row] = end
    heads, width = query.shape[1], query.shape[3]
    for row in range(rows):
        if filled[row] < length:
            pad = query.new_zeros(1, length - filled[row], heads, width)
            pieces[row].append(pad)
    return torch.cat([torch.cat(p, dim=1) for p in pieces]), None


AttentionInterface.register(PACKED_ATTENTION, packed_sdpa_attention)
AttentionMaskInterface.register(PACKED_ATTENTION, sdpa_mask)


def use_packed_attention(language_model: PreTrainedModel) -> None:
    """Switch a transformers LM to :func:`packed_sdpa_attention` (no-op if already on).

    Without ``packed_segments`` it computes what ``sdpa`` does, so evaluation and
    generation are unchanged for an ``sdpa`` model; an ``eager`` model then runs SDPA.

    Raises:
        ValueError: When the model cannot switch its attention implementation.
    """
    current = language_model.config._attn_implementation
    if current == PACKED_ATTENTION:
        return
    language_model.set_attn_implementation(PACKED_ATTENTION)
    if language_model.config._attn_implementation != PACKED_ATTENTION:
        raise ValueError(
            f"{type(language_model).__name__} cannot switch its attention to packed "
            "samples (it does not use transformers' attention interface): turn packing "
            "off (--model.pack_sequences false)."
        )
    setattr(language_model, _PREVIOUS_KEY, current)


def restore_attention(language_model: PreTrainedModel) -> None:
    """Switch an LM back to the implementation it had before :func:`use_packed_attention`."""
    previous = getattr(language_model, _PREVIOUS_KEY, None)
    if previous is not None:
        language_model.set_attn_implementation(previous)
        delattr(language_model, _PREVIOUS_KEY)
