"""Pretraining corpora of the downstream study, built only from the pretraining splits.

Remote sensing: RSSCN7 train split + Dubai tiles 1-6. Medical: VQA-RAD train questions +
PneumoniaMNIST train + hippocampus volumes 000-199 (slices). Everything else (RSSCN7 test,
Dubai tiles 7-8, hippocampus 200+, PneumoniaMNIST val/test, BreastMNIST) is downstream
only. Corpora are written under the study's work folder; the data folder is only read.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from vitp_core.atomic_io import atomic_write_json
from vitp_core.corpus.builders.classification import (
    build_classification_corpus,
    images_from_label_file,
)
from vitp_core.corpus.builders.medmnist import build_medmnist_corpus
from vitp_core.corpus.builders.segmentation import (
    build_segmentation_corpus,
    find_image_mask_pairs,
)
from vitp_core.corpus.builders.volume import build_volume_corpus, find_volume_pairs
from vitp_core.corpus.builders.vqa_rad import build_vqa_rad_corpus
from vitp_core.corpus.class_map import load_class_map
from vitp_core.corpus.reader import read_corpus

__all__ = [
    "DUBAI_PRETRAIN_TILES",
    "HIPPOCAMPUS_PRETRAIN_MAX_ID",
    "build_study_corpora",
    "combine_mixtures",
    "corpus_images",
    "hippocampus_id",
]

REPO = Path(__file__).resolve().parents[1]
DUBAI_PRETRAIN_TILES = frozenset(range(1, 7))
HIPPOCAMPUS_PRETRAIN_MAX_ID = 199


def hippocampus_id(path: Path) -> int:
    """``.../hippocampus_042.nii.gz`` -> 42."""
    match = re.search(r"_(\d+)\.nii", path.name)
    if match is None:
        raise ValueError(f"{path}: not a hippocampus_XXX.nii[.gz] file name.")
    return int(match.group(1))


def _dubai_tile(path: Path) -> int:
    for part in path.parts:
        if part.startswith("tile_"):
            return int(part.removeprefix("tile_"))
    raise ValueError(f"{path}: not inside a Dubai tile_N folder.")


def _build_rs(data: Path, out: Path) -> dict[str, dict]:
    rsscn7 = data / "rs" / "rsscn7"
    items, problems = images_from_label_file(rsscn7 / "labels.jsonl")
    build_classification_corpus(
        items,
        out / "rsscn7",
        name="rsscn7",
        exclude_splits=("test",),
        problems=problems,
        data_roots=[rsscn7, data],
    )
    dubai = data / "rs" / "dubai"
    pairs = [
        pair
        for pair in find_image_mask_pairs(dubai)
        if _dubai_tile(pair[0]) in DUBAI_PRETRAIN_TILES
    ]
    build_segmentation_corpus(
        pairs,
        out / "dubai",
        load_class_map(REPO / "examples" / "corpora" / "dubai_classes.json"),
        name="dubai",
        countable=["building", "water", "vegetation"],
        data_roots=[dubai, data],
    )
    return {
        "rsscn7": {"annotation": "rsscn7/corpus.jsonl", "root": "rsscn7", "repeat_time": 1},
        "dubai": {"annotation": "dubai/corpus.jsonl", "root": "dubai", "repeat_time": 4},
    }


def _build_med(data: Path, out: Path) -> dict[str, dict]:
    med = data / "med"
    hippocampus = [
        item
        for item in find_volume_pairs(med / "hippocampus")
        if hippocampus_id(item.image) <= HIPPOCAMPUS_PRETRAIN_MAX_ID
    ]
    build_volume_corpus(
        hippocampus,
        out / "hippocampus",
        load_class_map(REPO / "examples" / "corpora" / "hippocampus_classes.json"),
        name="hippocampus",
        modality="MRI",
        slices_per_plane=1,
        data_roots=[med / "hippocampus", data],
    )
    build_medmnist_corpus(
        med / "medmnist" / "pneumoniamnist.npz",
        out / "pneumoniamnist",
        name="pneumoniamnist",
        splits=("train",),
        data_roots=[med / "medmnist", data],
    )
    vqa = med / "vqa_rad"
    build_vqa_rad_corpus(vqa / "VQA_RAD Dataset Public.json", out / "vqa_rad", data_roots=[vqa])
    return {
        "hippocampus": {
            "annotation": "hippocampus/corpus.jsonl",
            "root": "hippocampus",
            "repeat_time": 1,
        },
        "pneumoniamnist": {
            "annotation": "pneumoniamnist/corpus.jsonl",
            "root": "pneumoniamnist",
            "repeat_time": 0.25,
        },
        "vqa_rad": {"annotation": "vqa_rad/corpus.jsonl", "root": "vqa_rad", "repeat_time": 1},
    }


def build_study_corpora(data: Path, out: Path, fresh: bool = False) -> dict[str, Path]:
    """Build the RS and medical pretraining mixtures (cached).

    Args:
        data: Data root holding ``rs/`` and ``med/``.
        out: Folder of the corpora (``out/rs/rs_mix.json``, ``out/med/med_mix.json``).
        fresh: Rebuild even when the mixtures exist.

    Returns:
        ``{"rs": mixture path, "med": mixture path}``.
    """
    mixtures = {}
    for domain, build in (("rs", _build_rs), ("med", _build_med)):
        folder = out / domain
        mixture = folder / f"{domain}_mix.json"
        if fresh or not mixture.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_json(mixture, build(data, folder))
        mixtures[domain] = mixture
    return mixtures


def combine_mixtures(mixtures: dict[str, Path], out: Path) -> Path:
    """One mixture of every source of several mixtures (the staged recipe's alignment).

    Sources keep their annotation, root and ``repeat_time``; names get the domain prefix.
    """
    combined = {}
    for domain, mixture in mixtures.items():
        for name, entry in json.loads(mixture.read_text()).items():
            combined[f"{domain}_{name}"] = {
                **entry,
                "annotation": str((mixture.parent / entry["annotation"]).resolve()),
                "root": str((mixture.parent / entry.get("root", ".")).resolve()),
            }
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, combined)
    return out


def corpus_images(mixture: Path, seed: int = 0) -> list[Path]:
    """The image of every record of a mixture, repeats included (MAE's sampling pool).

    ViTP draws records from the same list, so MAE sees each image as often as ViTP does.
    """
    records, _ = read_corpus(mixture, seed=seed)
    images = [image for record in records for image in record.images[:1]]
    if not images:
        raise ValueError(f"{mixture}: no record with an image.")
    return images


def corpus_summary(mixture: Path) -> dict[str, int]:
    """Records per corpus of a mixture (for the report)."""
    entries = json.loads(mixture.read_text())
    counts = {}
    for name, entry in entries.items():
        path = mixture.parent / entry["annotation"]
        counts[name] = sum(1 for line in path.open() if line.strip())
    return counts
