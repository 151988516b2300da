"""Builders that read source images skip a decompression bomb by name instead of crashing."""

from pathlib import Path

from hostile_files import png_bomb

from vitp_core.corpus.builders.classification import (
    build_classification_corpus,
    images_from_class_folders,
)
from vitp_core.corpus.builders.segmentation import build_segmentation_corpus
from vitp_core.corpus.class_map import ClassMap

from ..conftest import save_rgb


def test_classification_source_bomb_is_skipped(tmp_path: Path, data_root: Path) -> None:
    save_rgb(data_root / "forest" / "a.png", (30, 120, 40))
    save_rgb(data_root / "industry" / "b.png", (150, 150, 150))
    png_bomb(data_root / "industry" / "bomb.png")
    report = build_classification_corpus(
        images_from_class_folders(data_root), tmp_path / "out", data_roots=[data_root]
    )
    assert report.records == 2
    assert any("bomb.png" in s and "not decoded" in s for s in report.skipped)


def test_segmentation_source_bomb_is_skipped(tmp_path: Path, data_root: Path) -> None:
    save_rgb(data_root / "images" / "a.png", (10, 10, 10))
    save_rgb(data_root / "masks" / "a.png", (0, 0, 0))
    png_bomb(data_root / "images" / "b.png")
    save_rgb(data_root / "masks" / "b.png", (0, 0, 0))
    png_bomb(data_root / "masks" / "c.png")
    save_rgb(data_root / "images" / "c.png", (10, 10, 10))
    classes = ClassMap.from_names({0: "background", 1: "building"})
    pairs = [(data_root / "images" / n, data_root / "masks" / n) for n in ("b.png", "c.png")]
    report = build_segmentation_corpus(pairs, tmp_path / "out", classes, data_roots=[data_root])
    assert report.records == 0 and len(report.skipped) == 2
    assert all("not decoded" in s for s in report.skipped)
