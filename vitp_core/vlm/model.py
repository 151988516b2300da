"""ViTPModel: ViT -> pixel shuffle -> projector -> visual tokens in a causal LM.

The model receives a batch of tokenised conversations in which every image has been
expanded to ``<img>`` + ``n`` x ``<IMG_CONTEXT>`` + ``</img>``; the embeddings of the
``<IMG_CONTEXT>`` positions are replaced by projected visual tokens, in order. VRL
(:mod:`vitp_core.vlm.vrl`) removes a share of those positions in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn
from transformers import PreTrainedModel

from vitp_core.backbone import encode_patch_tokens
from vitp_core.vlm.packed_attention import (
    PACKED_ATTENTION,
    SEGMENTS_KEYWORD,
    restore_attention,
    use_packed_attention,
)
from vitp_core.vlm.packing import pack_rows
from vitp_core.vlm.pixel_shuffle import pixel_shuffle_index
from vitp_core.vlm.projector import VisualProjector
from vitp_core.vlm.vrl import VRLConfig, compact_sequences, draw_visual_drop

__all__ = ["AnswerNLL", "LanguageInputs", "ViTPModel", "ViTPOutput", "VisualBatch"]

#: Attention implementations that packing may replace with its per-sample SDPA.
_PACKABLE_ATTENTION = ("sdpa", "eager", PACKED_ATTENTION)


@dataclass
class VisualBatch:
    """A collated training batch.

    Attributes:
        input_ids: ``(B, L)`` token ids with image placeholders expanded.
        labels: ``(B, L)`` next-token targets, ``-100`` outside assistant answers.
        attention_mask: ``(B, L)``, 1 for real tokens, 0 for padding.
        pixel_values: ``(T, C, H, W)`` normalised tiles of all images, sample by sample.
        tile_sample: ``(T,)`` sample index of each tile.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    attention_mask: torch.Tensor
    pixel_values: torch.Tensor
    tile_sample: torch.Tensor

    def to(self, device: torch.device | str) -> VisualBatch:
        """Move every tensor to ``device``."""
        return VisualBatch(*(t.to(device) for t in self.__dict__.values()))


@dataclass
class LanguageInputs:
    """What the language model runs on: rows after VRL (and packing, when on).

    Attributes:
        input_ids: ``(R, L)`` token ids.
        labels: ``(R, L)`` targets, ``-100`` where masked.
        attention_mask: ``(R, L)``, 1 for real tokens.
        position_ids: ``(R, L)`` original positions of the tokens in their own sample.
        sample: ``(R, L)`` batch index of the sample each position holds (``-1``: padding).
        segments: With packing, ``(row, start, end)`` of every sample, which confine the
            LM's attention to each sample (:mod:`vitp_core.vlm.packed_attention`).
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    sample: torch.Tensor
    segments: tuple[tuple[int, int, int], ...] | None = None

    def lm_kwargs(self) -> dict[str, object]:
        """Keyword arguments of the LM's forward pass for these rows."""
        kwargs: dict[str, object] = {
            "attention_mask": self.attention_mask,
            "position_ids": self.position_ids,
        }
        if self.segments is not None:
            kwargs[SEGMENTS_KEYWORD] = self.segments
        return kwargs


@dataclass
class AnswerNLL:
    """Per-answer losses of a batch.

    Attributes:
        nll: ``(A,)`` summed token negative log-likelihood of each answer, in nats.
        sample: ``(A,)`` batch row of each answer.
    """

    nll: torch.Tensor
    sample: torch.Tensor


@dataclass
class ViTPOutput:
    """Loss and token accounting of one forward pass.

    Attributes:
        loss: Mean next-token cross-entropy over answer tokens.
        seq_len: Length of the sequence the LM actually ran on.
        real_tokens: Non-padding tokens the LM processed.
        visual_tokens: Visual tokens the LM processed (after VRL).
        padded_slots: ``B * seq_len``; ``1 - real_tokens / padded_slots`` is the padding share.
    """

    loss: torch.Tensor
    seq_len: int
    real_tokens: int
    visual_tokens: int
    padded_slots: int

    @property
    def pad_fraction(self) -> float:
        """Share of padding positions in the LM batch."""
        return 1.0 - self.real_tokens / max(self.padded_slots, 1)


class ViTPModel(nn.Module):
    """The ViTP vision-language model.

    Args:
        vit: A timm ViT (any size, bands, patch size).
        language_model: A ``transformers`` causal LM.
        image_token_id: Id of ``<IMG_CONTEXT>``.
        pad_token_id: Id used for padding.
        vrl: VRL settings (applied in training mode only).
        downsample_ratio: Pixel-shuffle scale (0.5: 2x2 patches per visual token).
        pack_sequences: Pack the samples of a batch (after VRL) into LM rows without
            padding, attention computed within each sample (:mod:`vitp_core.vlm.packing`);
            the loss is the unpacked batch's. The LM's ``sdpa`` or ``eager`` attention is
            replaced by a per-sample SDPA (:mod:`vitp_core.vlm.packed_attention`).
        pack_length: Most tokens in a packed row; ``None``: one row holds the batch
            (nothing is padded); less than the batch's longest sample: that sample's
            length.
    """

    def __init__(
        self,
        vit: VisionTransformer,
        language_model: PreTrainedModel,
        image_token_id: int,
        pad_token_id: int,
        vrl: VRLConfig | None = None,
        downsample_ratio: float = 0.5,
        pack_sequences: bool = False,
        pack_length: int | None = None,
    ) -> None:
        super().__init__()
        if downsample_ratio != 0.5:
            raise NotImplementedError("only InternVL's pixel-shuffle ratio 0.5 is supported.")
        self.vit = vit
        self.language_model = language_model
        self.projector = VisualProjector(
            vit.embed_dim * 4, language_model.get_input_embeddings().embedding_dim
        )
        self.image_token_id = image_token_id
        self.pad_token_id = pad_token_id
        self.vrl = vrl or VRLConfig(ratio=0.0)
        self.pack_sequences = False
        self.pack_length: int | None = None
        self.set_packing(pack_sequences, pack_length)
        self.generator: torch.Generator | None = None

    def set_packing(self, enabled: bool, length: int | None = None) -> None:
        """Turn sequence packing on or off (see ``pack_sequences`` above).

        Raises:
            ValueError: When the LM's attention cannot be confined to packed samples,
                VRL is ``padded``, or ``length`` is below 1.
        """
        if enabled:
            _check_packable(self.language_model, self.vrl, length)
            use_packed_attention(self.language_model)
        else:
            restore_attention(self.language_model)
        self.pack_sequences, self.pack_length = enabled, length

    @property
    def patch_size(self) -> int:
        """ViT patch size in pixels."""
        return int(self.vit.patch_embed.patch_size[0])

    def tokens_per_tile(self, height: int, width: int) -> int:
        """Visual tokens one ``height`` x ``width`` pixel tile becomes."""
        return (height // self.patch_size // 2) * (width // self.patch_size // 2)

    def freeze(self, vit: bool = False, projector: bool = False, lm: bool = False) -> None:
        """Stop gradients into the chosen parts."""
        for part, frozen in (
            (self.vit, vit),
            (self.projector, projector),
            (self.language_model, lm),
        ):
            part.requires_grad_(not frozen)

    def _shuffle_index(self, pixels: torch.Tensor) -> torch.Tensor:
        grid_h = pixels.shape[-2] // self.patch_size
        grid_w = pixels.shape[-1] // self.patch_size
        return pixel_shuffle_index(grid_h, grid_w).to(pixels.device)

    def encode_tiles(self, pixels: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
        """Visual tokens of the kept positions, in tile order.

        Args:
            pixels: ``(T, C, H, W)`` tiles.
            drop: Optional ``(T, Nv)`` bool mask of visual tokens to drop. Dropped tokens
                never enter the ViT blocks (early VRL); every tile must drop the same count.

        Returns:
            ``(M, lm_width)`` visual tokens, ``M`` = kept tokens over all tiles.
        """
        index = self._shuffle_index(pixels)
        num_tokens = index.shape[0]
        if drop is None or not bool(drop.any()):
            patches = encode_patch_tokens(self.vit, pixels)
            grouped = patches[:, index.flatten()].reshape(pixels.shape[0], num_tokens, -1)
            return self.projector(grouped).reshape(-1, self.projector.out_features)
        outputs = torch.empty(int((~drop).sum()), self.projector.out_features, device=pixels.device)
        kept_counts = (~drop).sum(1)
        offsets = torch.cumsum(kept_counts, 0) - kept_counts
        for count in kept_counts.unique().tolist():
            tiles = (kept_counts == count).nonzero().flatten()
            keep_tokens = (~drop[tiles]).nonzero()[:, 1].reshape(len(tiles), count)
            keep_patches = index[keep_tokens].reshape(len(tiles), count * 4)
            patches = encode_patch_tokens(self.vit, pixels[tiles], keep_patches)
            tokens = self.projector(patches.reshape(len(tiles), count, -1))
            rows = offsets[tiles, None] + torch.arange(count, device=pixels.device)
            outputs = outputs.to(tokens.dtype)
            outputs[rows.flatten()] = tokens.reshape(-1, tokens.shape[-1])
        return outputs

    def _sequence_drop(self, batch: VisualBatch, visual_drop: torch.Tensor) -> torch.Tensor:
        """Map a per-visual-token drop mask onto sequence positions ``(B, L)``."""
        is_visual = batch.input_ids == self.image_token_id
        expected = visual_drop.numel()
        if int(is_visual.sum()) != expected:
            raise ValueError(
                f"batch has {int(is_visual.sum())} image-context tokens but its tiles give "
                f"{expected} visual tokens: the processor and model disagree on image size."
            )
        drop = torch.zeros_like(is_visual)
        drop[is_visual] = visual_drop.flatten()
        return drop

    def _language_inputs(
        self, batch: VisualBatch, vrl: VRLConfig
    ) -> tuple[LanguageInputs, torch.Tensor, torch.Tensor]:
        """Drop visual tokens as ``vrl`` says, embed the rest and pack it if asked.

        Returns:
            The LM rows, their ``(R, L, D)`` input embeddings and the ``(R, L)`` mask of
            the visual positions that remain.
        """
        num_tiles = batch.pixel_values.shape[0]
        per_tile = self.tokens_per_tile(*batch.pixel_values.shape[-2:]) if num_tiles else 0
        visual_drop = draw_visual_drop(
            vrl, batch.tile_sample, per_tile, batch.input_ids.shape[0], self.generator
        )
        sequence = compact_sequences(
            batch.input_ids,
            batch.labels,
            batch.attention_mask,
            self._sequence_drop(batch, visual_drop),
            self.pad_token_id,
            keep_length=vrl.mode == "padded",
        )
        early = vrl.mode == "early"
        visual = self.encode_tiles(batch.pixel_values, visual_drop if early else None)
        if not early:
            visual = visual[~visual_drop.flatten()]
        embeds = self.language_model.get_input_embeddings()(sequence.input_ids)
        is_visual = (sequence.input_ids == self.image_token_id) & sequence.attention_mask.bool()
        embeds = embeds.masked_scatter(is_visual.unsqueeze(-1), visual.to(embeds.dtype))
        if not self.pack_sequences:
            rows = torch.arange(len(sequence.input_ids), device=embeds.device)[:, None]
            sample = torch.where(sequence.attention_mask.bool(), rows, -1)
            inputs = LanguageInputs(
                sequence.input_ids,
                sequence.labels,
                sequence.attention_mask,
                sequence.position_ids,
                sample,
            )
            return inputs, embeds, is_visual
        packed = pack_rows(
            sequence.input_ids,
            sequence.labels,
            sequence.attention_mask,
            sequence.position_ids,
            self.pad_token_id,
            self.pack_length,
        )
        inputs = LanguageInputs(
            packed.input_ids,
            packed.labels,
            packed.attention_mask,
            packed.position_ids,
            packed.sample,
            packed.segments,
        )
        return inputs, packed.gather(embeds), packed.gather(is_visual, False)

    def forward(self, batch: VisualBatch) -> ViTPOutput:
        """Compute the answer-token loss of a batch (VRL only when ``self.training``)."""
        vrl = self.vrl if self.training else VRLConfig(ratio=0.0)
        sequence, embeds, is_visual = self._language_inputs(batch, vrl)
        out = self.language_model(
            inputs_embeds=embeds, labels=sequence.labels, use_cache=False, **sequence.lm_kwargs()
        )
        return ViTPOutput(
            loss=out.loss,
            seq_len=int(sequence.input_ids.shape[1]),
            real_tokens=int(sequence.attention_mask.sum()),
            visual_tokens=int(is_visual.sum()),
            padded_slots=int(sequence.attention_mask.numel()),
        )

    @torch.no_grad()
    def answer_nll(self, batch: VisualBatch) -> AnswerNLL:
        """Negative log-likelihood of every answer, summed over its tokens (no VRL).

        An answer is a maximal run of consecutive supervised target tokens, i.e. one
        assistant turn. Summing (rather than averaging) over its tokens keeps answers
        comparable whatever the length of their template text.

        Args:
            batch: A collated batch.

        Returns:
            Per-answer summed NLL in nats and the sample each answer belongs to.
        """
        sequence, embeds, _ = self._language_inputs(batch, VRLConfig(ratio=0.0))
        logits = self.language_model(
            inputs_embeds=embeds, use_cache=False, **sequence.lm_kwargs()
        ).logits
        targets = sequence.labels[:, 1:]
        supervised = targets != -100
        token_nll = nn.functional.cross_entropy(
            logits[:, :-1].float().transpose(1, 2), targets.clamp(min=0), reduction="none"
        )
        starts = supervised & ~nn.functional.pad(supervised[:, :-1], (1, 0), value=False)
        answer_id = (starts.flatten().long().cumsum(0) - 1).reshape(supervised.shape)
        count = int(starts.sum())
        totals = torch.zeros(count, device=logits.device).index_add_(
            0, answer_id[supervised], token_nll[supervised]
        )
        sample = sequence.sample[:, 1:][starts]
        order = torch.sort(sample, stable=True).indices
        return AnswerNLL(nll=totals[order], sample=sample[order])


def _check_packable(
    language_model: PreTrainedModel, vrl: VRLConfig | None, pack_length: int | None
) -> None:
    """Refuse packing where it cannot work, naming the setting."""
    attention = getattr(language_model.config, "_attn_implementation", None) or "eager"
    if attention not in _PACKABLE_ATTENTION:
        raise ValueError(
            f"pack_sequences replaces the LM's sdpa or eager attention with a per-sample "
            f"SDPA, got {attention!r}: load the LM with attn_implementation='sdpa' or "
            "turn packing off (--model.pack_sequences false)."
        )
    if vrl is not None and vrl.mode == "padded" and vrl.enabled:
        raise ValueError(
            "pack_sequences with vrl_mode 'padded' would remove the padding that mode "
            "exists to keep: use vrl_mode late or early, or turn packing off "
            "(--model.pack_sequences false)."
        )
    if pack_length is not None and pack_length < 1:
        raise ValueError(f"pack_length must be 1 or more tokens (or null), got {pack_length}.")
