"""SampleProcessor: one instruction record -> pixel tiles, token ids and labels.

The processor belongs to the model (it knows the tokenizer, the tile size and how
many visual tokens a tile becomes) and is handed to the data module, like a
Hugging Face processor.

Per-source settings of a mixture ride on each record and mean what they mean in
InternVL's fine-tuning script (which ViTP trains with): ``max_dynamic_patch`` replaces
``max_tiles`` as the record's tile budget; a record with ``n`` images gives each image
``max(1, budget // n)`` tiles (2 images with a budget of 6: at most 3 tiles each, plus
its thumbnail); ``data_augment`` re-encodes every
tile as JPEG at a random quality 75-100 (the whole image before its resize without
dynamic tiling).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from vitp_core.corpus.images import load_image
from vitp_core.corpus.records import BadRecordError, InstructionRecord
from vitp_core.data.jpeg import check_jpeg_compatible, random_jpeg
from vitp_core.data.tiling import dynamic_tiles, resize_image
from vitp_core.vlm.chat import encode_conversation

__all__ = ["ProcessedSample", "SampleProcessor"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ProcessedSample:
    """Model inputs of one record.

    Attributes:
        input_ids: ``(L,)`` token ids.
        labels: ``(L,)`` answer-only targets.
        pixel_values: ``(t, C, S, S)`` normalised tiles of all its images.
        record_id: Id of the source record.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    pixel_values: torch.Tensor
    record_id: str = ""


@dataclass
class SampleProcessor:
    """Turn records into model inputs.

    Attributes:
        tokenizer: Tokenizer with a chat template and the image tokens.
        image_size: Tile side in pixels (a multiple of ``2 * patch_size``).
        patch_size: ViT patch size in pixels.
        in_chans: Bands the model takes.
        bands: Bands to read from multi-band files (1-based indices or names), or ``None``.
        mean: Per-band mean (0-1 scaled pixels); ImageNet's for 3 bands by default.
        std: Per-band standard deviation.
        dynamic_tiling: Cut large images into InternVL tiles.
        max_tiles: Tile budget of a record with dynamic tiling (InternVL's
            ``max_dynamic_patch``) unless its source sets its own; several images of a
            record share it.
        use_thumbnail: Add a thumbnail tile with dynamic tiling.
        max_seq_len: Longest token sequence accepted; longer records are bad records.
        augment: Apply the sources' ``data_augment`` (turn off for evaluation).
    """

    tokenizer: PreTrainedTokenizerBase
    image_size: int
    patch_size: int
    in_chans: int = 3
    bands: Sequence[int | str] | None = None
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None
    dynamic_tiling: bool = False
    max_tiles: int = 6
    use_thumbnail: bool = True
    max_seq_len: int = 4096
    augment: bool = True
    _mean: torch.Tensor = field(init=False, repr=False)
    _std: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.image_size % (2 * self.patch_size):
            raise ValueError(
                f"image_size {self.image_size} must be a multiple of 2 x patch size "
                f"({2 * self.patch_size}) for the 2x2 pixel shuffle."
            )
        default_mean = IMAGENET_MEAN if self.in_chans == 3 else (0.5,) * self.in_chans
        default_std = IMAGENET_STD if self.in_chans == 3 else (0.25,) * self.in_chans
        self._mean = torch.tensor(self.mean or default_mean, dtype=torch.float32)[:, None, None]
        self._std = torch.tensor(self.std or default_std, dtype=torch.float32)[:, None, None]
        if len(self._mean) != self.in_chans or len(self._std) != self.in_chans:
            raise ValueError(f"mean/std need {self.in_chans} values (one per band).")

    @property
    def tokens_per_tile(self) -> int:
        """Visual tokens of one tile after the 2x2 pixel shuffle."""
        return (self.image_size // self.patch_size // 2) ** 2

    def tile_budget(self, record: InstructionRecord) -> int:
        """Most tiles (thumbnail aside) per image of ``record`` with dynamic tiling."""
        budget = record.max_dynamic_patch or self.max_tiles
        return max(1, budget // max(len(record.images), 1))

    def _check_augment(self, image: torch.Tensor, record: InstructionRecord, path: Path) -> None:
        try:
            check_jpeg_compatible(image)
        except ValueError as err:
            raise BadRecordError(
                record.source,
                f"{path}: its source has data_augment (JPEG re-encode) but {err}: "
                "set data_augment false for this source.",
            ) from err

    def image_tiles(self, record: InstructionRecord) -> list[torch.Tensor]:
        """Load, tile and normalise every image of ``record``: a list of ``(t, C, S, S)``."""
        tiles = []
        augment = self.augment and record.data_augment
        for path in record.images:
            image = torch.from_numpy(load_image(path, self.bands))
            if image.shape[0] == 1 and self.in_chans == 3:
                image = image.expand(3, -1, -1)  # grey scans into an RGB model
            if image.shape[0] != self.in_chans:
                raise BadRecordError(
                    record.source,
                    f"{path} has {image.shape[0]} band(s) but the model takes {self.in_chans}: "
                    "set data bands (e.g. bands: [4, 3, 2]) or model in_chans.",
                )
            if augment:
                self._check_augment(image, record, path)
            if self.dynamic_tiling:
                image_tiles = dynamic_tiles(
                    image,
                    self.image_size,
                    max_tiles=self.tile_budget(record),
                    use_thumbnail=self.use_thumbnail,
                )
                if augment:
                    image_tiles = torch.stack([random_jpeg(tile) for tile in image_tiles])
            else:
                if augment:
                    image = random_jpeg(image)
                image_tiles = resize_image(image, self.image_size, self.image_size)[None]
            tiles.append((image_tiles - self._mean) / self._std)
        return tiles

    def __call__(self, record: InstructionRecord) -> ProcessedSample:
        """Process one record.

        Raises:
            BadRecordError: For a sequence longer than ``max_seq_len`` or a band mismatch.
            vitp_core.corpus.images.ImageReadError: For a missing or unreadable image.
        """
        tiles = self.image_tiles(record)
        counts = [t.shape[0] * self.tokens_per_tile for t in tiles]
        encoded = encode_conversation(self.tokenizer, record.turns, counts)
        if len(encoded.input_ids) > self.max_seq_len:
            raise BadRecordError(
                record.source,
                f"{len(encoded.input_ids)} tokens exceed max_seq_len={self.max_seq_len}: "
                "raise max_seq_len, use fewer tiles or shorten the conversation.",
            )
        size = (0, self.in_chans, self.image_size, self.image_size)
        return ProcessedSample(
            input_ids=torch.tensor(encoded.input_ids, dtype=torch.long),
            labels=torch.tensor(encoded.labels, dtype=torch.long),
            pixel_values=torch.cat(tiles) if tiles else torch.zeros(size),
            record_id=record.id,
        )
