"""The sample processor follows InternVL's fine-tuning script (ViTP's trainer) on the
per-source tile budget, the tile split of multi-image records and the JPEG augment."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vitp_core.corpus.records import BadRecordError, ConversationTurn, InstructionRecord
from vitp_core.data.jpeg import JPEG_QUALITIES, jpeg_reencode
from vitp_core.data.processor import SampleProcessor
from vitp_core.vlm.tokenizer import IMG_CONTEXT_TOKEN, build_byte_tokenizer

TILE = 28  # patch 14: one visual token per tile after the 2x2 pixel shuffle


def _image(path: Path, width: int, height: int, bands: int = 3, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, bands), dtype=np.uint8)
    if bands == 3:
        Image.fromarray(pixels).save(path)
    else:
        np.save(path, pixels.transpose(2, 0, 1))
    return path


def _record(images: list[Path], **settings: object) -> InstructionRecord:
    tags = "".join("<image>\n" for _ in images)
    turns = [
        ConversationTurn("user", tags + "Describe."),
        ConversationTurn("assistant", "A scene."),
    ]
    return InstructionRecord("r", images, turns, **settings)


def _processor(**kwargs: object) -> SampleProcessor:
    defaults = {"image_size": TILE, "patch_size": 14, "dynamic_tiling": True, "max_tiles": 6}
    return SampleProcessor(build_byte_tokenizer(), **(defaults | kwargs))


def _tiles_per_image(processor: SampleProcessor, record: InstructionRecord) -> list[int]:
    return [t.shape[0] for t in processor.image_tiles(record)]


def test_source_tile_budget_replaces_max_tiles(tmp_path: Path) -> None:
    square = _image(tmp_path / "big.png", 4 * TILE, 4 * TILE)  # room for a 4x4 grid
    processor = _processor(max_tiles=6)
    # Global budget 6: the 2x2 grid + thumbnail; the source's 12: 3x3 + thumbnail.
    assert _tiles_per_image(processor, _record([square])) == [5]
    assert _tiles_per_image(processor, _record([square], max_dynamic_patch=12)) == [10]
    assert _tiles_per_image(_processor(dynamic_tiling=False), _record([square])) == [1]


def test_multi_image_records_divide_the_budget_among_images(tmp_path: Path) -> None:
    """InternVL's multi_modal_multi_image_get_item: max(1, max_dynamic_patch // n_images)."""
    first = _image(tmp_path / "before.png", 4 * TILE, 4 * TILE, seed=1)
    second = _image(tmp_path / "after.png", 4 * TILE, 4 * TILE, seed=2)
    processor = _processor(max_tiles=6)
    record = _record([first, second])
    # 6 // 2 = 3 tiles each: no square grid above 1x1 fits, so one tile and no thumbnail
    # (each image alone would get 2x2 + thumbnail = 5 tiles).
    assert _tiles_per_image(processor, record) == [1, 1]
    sample = processor(record)
    context = processor.tokenizer.convert_tokens_to_ids(IMG_CONTEXT_TOKEN)
    assert int((sample.input_ids == context).sum()) == 2 * processor.tokens_per_tile
    assert _tiles_per_image(processor, _record([first, second], max_dynamic_patch=12)) == [5, 5]
    assert _tiles_per_image(processor, _record([first] * 8, max_dynamic_patch=6)) == [1] * 8


def _official_jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    """InternVL's simulate_jpeg_degradation: Pillow RGB image saved as JPEG and read back."""
    with io.BytesIO() as output:
        Image.fromarray(pixels).convert("RGB").save(output, format="JPEG", quality=quality)
        output.seek(0)
        return np.array(Image.open(output))


@pytest.mark.parametrize("quality", [75, 90, 100])
def test_jpeg_reencode_is_the_official_degradation(quality: int) -> None:
    pixels = np.random.default_rng(quality).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    tensor = torch.from_numpy(pixels).permute(2, 0, 1).float() / 255
    out = jpeg_reencode(tensor, quality)
    expected = torch.from_numpy(_official_jpeg(pixels, quality)).permute(2, 0, 1).float() / 255
    assert torch.equal(out, expected)
    grey = jpeg_reencode(tensor[:1], quality)
    assert grey.shape == (1, 24, 40)
    assert list(JPEG_QUALITIES) == list(range(75, 101))


def test_data_augment_reencodes_every_tile_at_a_drawn_quality(tmp_path: Path) -> None:
    image = _image(tmp_path / "scene.png", 2 * TILE, TILE)  # 2x1 grid + thumbnail
    processor = _processor()
    plain = processor.image_tiles(_record([image]))[0]
    augmented_record = _record([image], data_augment=True)
    torch.manual_seed(0)
    augmented = processor.image_tiles(augmented_record)[0]
    assert augmented.shape == plain.shape == (3, 3, TILE, TILE)
    # Same draws, done by hand: one quality per tile, in tile order.
    torch.manual_seed(0)
    qualities = [JPEG_QUALITIES[int(torch.randint(len(JPEG_QUALITIES), (1,)))] for _ in range(3)]
    mean, std = processor._mean, processor._std
    raw = plain * std + mean
    expected = torch.stack([jpeg_reencode(t, q) for t, q in zip(raw, qualities, strict=True)])
    torch.testing.assert_close(augmented * std + mean, expected, atol=1e-5, rtol=0)
    assert not torch.allclose(augmented, plain)
    off = _processor(augment=False)  # e.g. for evaluation
    torch.testing.assert_close(off.image_tiles(augmented_record)[0], plain)


def test_data_augment_on_images_jpeg_cannot_hold_is_a_bad_record(tmp_path: Path) -> None:
    image = _image(tmp_path / "s2.npy", TILE, TILE, bands=4)
    processor = _processor(in_chans=4, dynamic_tiling=False, mean=[0.5] * 4, std=[0.2] * 4)
    assert processor.image_tiles(_record([image]))[0].shape == (1, 4, TILE, TILE)
    with pytest.raises(BadRecordError, match=r"data_augment .*JPEG holds 1 or 3 bands"):
        processor.image_tiles(_record([image], data_augment=True))
