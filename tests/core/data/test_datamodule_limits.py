"""Item 13: `data.max_image_pixels` reaches the dataset, so an image over the limit is a
bad record refused from its header (and a corpus of nothing else stops at the start)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_data import TINY_ARCHITECTURE, write_tiny_corpus

from vitp_core.corpus.records import BadRecordError
from vitp_core.data.datamodule import InstructionDataModule
from vitp_core.data.processor import SampleProcessor
from vitp_core.training.module import ViTPPretrainModule

TINY = TINY_ARCHITECTURE


@pytest.fixture(scope="module")
def processor() -> SampleProcessor:
    return ViTPPretrainModule(**TINY).processor


def test_max_image_pixels_makes_larger_images_bad_records(
    tmp_path: Path, processor: SampleProcessor
) -> None:
    small = write_tiny_corpus(tmp_path / "small", n=12, size=32)
    large = write_tiny_corpus(tmp_path / "large", n=12, size=48)
    lines = small.read_text().splitlines()[:6] + [
        line.replace('"images/', f'"{large.parent}/images/')
        for line in large.read_text().splitlines()[:6]
    ]
    corpus = small.parent / "mixed.jsonl"  # the large images lie outside its root: allowed
    corpus.write_text("\n".join(lines) + "\n")
    data = InstructionDataModule(
        corpus=str(corpus),
        processor=processor,
        max_image_pixels=32 * 32,
        reliance_records=0,
        allowed_image_roots=[str(large.parent)],
    )
    data.setup()
    dataset = data.train_dataloader().dataset
    assert dataset.max_image_pixels == 32 * 32
    loaded = [dataset[i] for i in range(len(dataset))]
    refused = [item for item in loaded if isinstance(item, BadRecordError)]
    assert len(refused) == 6 and all("declares 48x48 pixels" in str(e) for e in refused)
    assert {e.source.path for e in refused} == {str(corpus)}


def test_a_corpus_of_images_over_the_limit_stops_at_the_start(
    tmp_path: Path, processor: SampleProcessor
) -> None:
    corpus = write_tiny_corpus(tmp_path / "tiny", n=12, size=48)
    data = InstructionDataModule(corpus=str(corpus), processor=processor, max_image_pixels=1000)
    with pytest.raises(
        ValueError, match=r"would train on nothing: 10 x .*jsonl:\d+: image unusable"
    ):
        data.setup()
