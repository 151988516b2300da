from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vitp_core.corpus.builders.change import (
    build_change_corpus,
    find_change_pairs,
    read_change_mask,
)

from ..conftest import answers_of, read_jsonl, save_rgb


def test_change_pairs_and_bad_pairs(tmp_path: Path, data_root: Path) -> None:
    for name, size in (("p1", (64, 64)), ("p2", (64, 64)), ("p3", (64, 64)), ("p4", (64, 64))):
        save_rgb(data_root / "A" / f"{name}.png", (50, 50, 50), size)
        save_rgb(data_root / "B" / f"{name}.png", (60, 60, 60), size if name != "p3" else (64, 63))
    (data_root / "label").mkdir()
    changed = np.zeros((64, 64), dtype=np.uint8)
    changed[0:16, 0:32] = 255
    Image.fromarray(changed).save(data_root / "label" / "p1.png")
    Image.fromarray(np.zeros((64, 64), dtype=np.uint8)).save(data_root / "label" / "p2.png")
    Image.fromarray(changed).save(data_root / "label" / "p3.png")
    pairs = find_change_pairs(data_root)
    report = build_change_corpus(pairs, tmp_path / "out", data_roots=[data_root], n_questions=4)
    assert report.records == 2
    skipped = "\n".join(report.skipped)
    assert "p3.png: before, after and mask differ in size" in skipped
    assert "p4.png: no change mask with the same name" in skipped
    first, second = read_jsonl(tmp_path / "out" / "corpus.jsonl")
    assert len(first["image"]) == 2 and first["conversations"][0]["value"].startswith(
        "Image-1: <image>\nImage-2: <image>\n"
    )
    assert first["meta"]["changed_fraction"] == 0.125
    assert all("Yes" not in a and "<box>" not in a for a in answers_of(second))
    assert any("12%" in a or "13%" in a for a in answers_of(first))


def test_non_binary_mask_is_rejected(tmp_path: Path) -> None:
    Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4)).save(tmp_path / "m.png")
    with pytest.raises(ValueError, match="not a binary change mask"):
        read_change_mask(tmp_path / "m.png")


@pytest.mark.data
def test_levir_cd_samples_real_data(tmp_path: Path, vitp_data: Path) -> None:
    pairs = find_change_pairs(vitp_data / "rs" / "levir_cd_samples")
    report = build_change_corpus(pairs, tmp_path / "levir", name="levir_cd", data_roots=[vitp_data])
    assert report.records == 11  # 12 pairs, test_113_0256 has no mask
    assert len(report.skipped) == 1 and "test_113_0256.png: no change mask" in report.skipped[0]
