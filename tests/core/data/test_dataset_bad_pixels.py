"""InstructionDataset: non-finite and oversized images are bad records, named by file:line."""

from pathlib import Path

import numpy as np
import pytest
from hostile_files import float_geotiff, png_bomb
from PIL import Image

from vitp_core.corpus.records import BadRecordError, RecordSource, parse_record
from vitp_core.data.dataset import InstructionDataset
from vitp_core.data.processor import ProcessedSample, SampleProcessor
from vitp_core.vlm.tokenizer import build_byte_tokenizer


def _record(image: Path, line: int) -> object:
    obj = {
        "id": image.stem,
        "image": image.name,
        "conversations": [
            {"from": "human", "value": "<image>\nWhat is it?"},
            {"from": "gpt", "value": "A field."},
        ],
    }
    return parse_record(obj, image.parent, RecordSource(str(image.parent / "c.jsonl"), line))


@pytest.fixture(scope="module")
def processor() -> SampleProcessor:
    return SampleProcessor(build_byte_tokenizer(), image_size=32, patch_size=16, max_seq_len=512)


def test_nan_pixels_are_skipped_or_raised_by_name(tmp_path: Path, processor) -> None:
    pytest.importorskip("rasterio")
    Image.fromarray(np.full((32, 32, 3), 90, dtype=np.uint8)).save(tmp_path / "ok.png")
    values = np.full((3, 16, 16), 0.5, dtype=np.float32)
    values[0, :4, :4] = np.nan  # 16 NaN pixels, as in the report
    float_geotiff(tmp_path / "nan.tif", values)
    records = [_record(tmp_path / "ok.png", 1), _record(tmp_path / "nan.tif", 2)]
    dataset = InstructionDataset(records, processor, on_bad_record="skip")
    assert isinstance(dataset[0], ProcessedSample)
    bad = dataset[1]
    assert isinstance(bad, BadRecordError)
    assert str(bad).startswith(f"{tmp_path / 'c.jsonl'}:2: ")
    assert "16 non-finite pixel value(s)" in str(bad)
    with pytest.raises(BadRecordError, match=r"c\.jsonl:2: .*non-finite"):
        InstructionDataset(records, processor, on_bad_record="raise")[1]


def test_decompression_bomb_is_a_counted_bad_record(tmp_path: Path, processor) -> None:
    png_bomb(tmp_path / "bomb.png")
    dataset = InstructionDataset([_record(tmp_path / "bomb.png", 7)], processor)
    bad = dataset[0]
    assert isinstance(bad, BadRecordError) and "c.jsonl:7" in str(bad)
    assert "not decoded" in str(bad)


def test_configured_pixel_limit_reaches_the_readers(tmp_path: Path, processor) -> None:
    Image.fromarray(np.zeros((40, 40, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    records = [_record(tmp_path / "a.png", 3)]
    assert isinstance(InstructionDataset(records, processor)[0], ProcessedSample)
    bad = InstructionDataset(records, processor, max_image_pixels=1000)[0]
    assert isinstance(bad, BadRecordError) and "declares 40x40 pixels" in str(bad)


def test_non_finite_sample_after_processing_is_a_bad_record(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    # a zero standard deviation turns every pixel into +-Inf/NaN after normalisation
    zero_std = SampleProcessor(
        build_byte_tokenizer(), image_size=32, patch_size=16, mean=[0.5] * 3, std=[0.0] * 3
    )
    records = [_record(tmp_path / "a.png", 4)]
    bad = InstructionDataset(records, zero_std)[0]
    assert isinstance(bad, BadRecordError)
    assert "c.jsonl:4" in str(bad) and "std" in str(bad)
    with pytest.raises(BadRecordError, match="non-finite"):
        InstructionDataset(records, zero_std, on_bad_record="raise")[0]
