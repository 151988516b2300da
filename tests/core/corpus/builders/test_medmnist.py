from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vitp_core.corpus.builders.medmnist import build_medmnist_corpus

from ..conftest import answers_of, read_jsonl


def _npz(path: Path, shape: tuple) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        arrays[f"{split}_images"] = rng.integers(0, 255, (n, *shape), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 2).reshape(n, 1).astype(np.uint8)
    np.savez(path, **arrays)
    return path


def test_2d_split_and_labels(tmp_path: Path) -> None:
    npz = _npz(tmp_path / "pneumoniamnist.npz", (28, 28))
    report = build_medmnist_corpus(npz, tmp_path / "out")
    records = read_jsonl(tmp_path / "out" / "corpus.jsonl")
    assert report.records == 8 and {r["meta"]["split"] for r in records} == {
        "train",
        "val",
    }  # test held out
    for record in records:
        label = record["meta"]["label"]
        assert label == ("normal", "pneumonia")[int(record["id"][-1]) % 2]
        assert all(
            label in a.lower() or a in {"Yes."} or a.startswith(("A.", "B."))
            for a in answers_of(record)
        )
    assert Image.open(tmp_path / "out" / records[0]["image"]).mode == "RGB"


def test_3d_volumes_as_three_views(tmp_path: Path) -> None:
    npz = _npz(tmp_path / "adrenalmnist3d_64.npz", (28, 28, 28))
    report = build_medmnist_corpus(
        npz, tmp_path / "out", splits=["train"], limit_per_split=2, channels=1
    )
    record = read_jsonl(tmp_path / "out" / "corpus.jsonl")[0]
    assert report.records == 2 and len(record["image"]) == 3
    assert Image.open(tmp_path / "out" / record["image"][0]).mode == "L"


def test_unknown_set_needs_names(tmp_path: Path) -> None:
    npz = _npz(tmp_path / "mystery.npz", (8, 8))
    with pytest.raises(ValueError, match="pass class_names"):
        build_medmnist_corpus(npz, tmp_path / "out")
    report = build_medmnist_corpus(npz, tmp_path / "out", class_names={0: "benign", 1: "malignant"})
    assert report.records == 8


@pytest.mark.data
def test_breastmnist_real_data(tmp_path: Path, vitp_data: Path) -> None:
    report = build_medmnist_corpus(
        vitp_data / "med" / "medmnist" / "breastmnist.npz", tmp_path / "b", data_roots=[vitp_data]
    )
    assert report.records == 546 + 78 and not report.skipped
