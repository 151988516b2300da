"""Image-level labels -> scene or diagnosis questions.

Sources:
    * an image folder per class (``root/forest/*.jpg``, ``root/field/*.jpg``...);
    * a label file: JSONL ``{"image", "label", "split"}`` or CSV with those columns,
      image paths relative to the file's folder (RSSCN7's ``labels.jsonl``);
    * any map-style dataset of ``{"image": (C,H,W), "label": int}`` samples, e.g. a
      TorchGeo ``NonGeoDataset`` (:func:`build_classification_from_dataset`).

Items of an excluded split (``test`` by default) never enter the corpus, so the
dataset's test set stays clean for downstream evaluation.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from vitp_core.corpus.images import PIL_SUFFIXES, ImageReadError, check_image, to_display_uint8
from vitp_core.corpus.phrasing import record_rng
from vitp_core.corpus.questions.classification import (
    DIAGNOSIS,
    SCENE,
    Phrasebook,
    classification_questions,
    display_name,
)
from vitp_core.corpus.records import RecordSource
from vitp_core.corpus.writer import BuildReport, CorpusWriter, OnBadRecord

__all__ = [
    "PHRASEBOOKS",
    "LabelledImage",
    "build_classification_corpus",
    "build_classification_from_dataset",
    "images_from_class_folders",
    "images_from_label_file",
]

PHRASEBOOKS: dict[str, Phrasebook] = {"scene": SCENE, "diagnosis": DIAGNOSIS}


@dataclass(frozen=True)
class LabelledImage:
    """An image file with its class.

    Attributes:
        path: Image file.
        label: Class name as given by the dataset.
        split: Dataset split (``train``, ``test``...) or ``None``.
        source: Where the label was read (label file line, or the image itself).
    """

    path: Path
    label: str
    split: str | None
    source: RecordSource


def images_from_class_folders(root: str | Path) -> list[LabelledImage]:
    """Every image in ``root/<class>/``, labelled with its folder name.

    Raises:
        FileNotFoundError: When ``root`` has no class sub-folders with images.
    """
    root = Path(root)
    items = [
        LabelledImage(path, folder.name, None, RecordSource(str(path), 0))
        for folder in sorted(p for p in root.iterdir() if p.is_dir())
        for path in sorted(folder.iterdir())
        if path.suffix.lower() in PIL_SUFFIXES | {".tif", ".tiff"}
    ]
    if not items:
        raise FileNotFoundError(f"{root}: no class folders with images found.")
    return items


def _rows(path: Path) -> Iterable[tuple[int, dict[str, Any] | str]]:
    """``(line, row)`` of a JSONL or CSV label file; ``row`` is an error text when unparsable."""
    with open(path, encoding="utf-8", newline="") as handle:
        if path.suffix.lower() == ".csv":
            for number, row in enumerate(csv.DictReader(handle), start=2):
                yield number, row
            return
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as err:
                    yield number, f"not valid JSON ({err.msg})."


def images_from_label_file(
    path: str | Path, image_root: str | Path | None = None
) -> tuple[list[LabelledImage], list[tuple[RecordSource, str]]]:
    """Read a JSONL/CSV label file of ``image``, ``label`` and optional ``split``.

    Args:
        path: The label file.
        image_root: Folder of the relative image paths (default: the file's folder).

    Returns:
        The labelled images and the ``(line, reason)`` of unusable rows.
    """
    path = Path(path)
    root = Path(image_root) if image_root is not None else path.parent
    items, problems = [], []
    for number, row in _rows(path):
        source = RecordSource(str(path), number)
        if isinstance(row, str):
            problems.append((source, row))
        elif not isinstance(row, dict) or not row.get("image") or row.get("label") in (None, ""):
            problems.append((source, "needs non-empty 'image' and 'label' fields."))
        else:
            split = row.get("split") or None
            items.append(LabelledImage(root / str(row["image"]), str(row["label"]), split, source))
    return items, problems


def build_classification_corpus(
    items: Sequence[LabelledImage],
    out_dir: str | Path,
    *,
    name: str = "classification",
    seed: int = 0,
    phrasebook: str | Phrasebook = "scene",
    n_questions: int = 2,
    exclude_splits: Sequence[str] = ("test",),
    problems: Sequence[tuple[RecordSource, str]] = (),
    meta: dict[str, Any] | None = None,
    on_bad_record: OnBadRecord = "skip",
    data_roots: Sequence[str | Path] = (),
) -> BuildReport:
    """Write a corpus of classification questions.

    Args:
        items: Labelled images.
        out_dir: Corpus folder.
        name: Corpus name.
        seed: Seed of the question choice.
        phrasebook: ``"scene"``, ``"diagnosis"`` or a :class:`Phrasebook`.
        n_questions: Question/answer turns per record (1-3).
        exclude_splits: Splits left out of the corpus.
        problems: Bad rows found while reading the labels, reported by the build.
        meta: Extra metadata for every record.
        on_bad_record: ``"skip"`` or ``"raise"``.
        data_roots: Source folders the output must not be written into.
    """
    book = PHRASEBOOKS[phrasebook] if isinstance(phrasebook, str) else phrasebook
    classes = sorted({display_name(i.label) for i in items})
    held_out = 0
    with CorpusWriter(out_dir, name=name, on_bad_record=on_bad_record, data_roots=data_roots) as w:
        for source, reason in problems:
            w.skip(source, reason)
        for number, item in enumerate(items):
            if item.split in exclude_splits:
                held_out += 1
                continue
            try:
                check_image(item.path)
            except ImageReadError as err:
                w.skip(item.source, str(err))
                continue
            label = display_name(item.label)
            record_id = f"{name}-{number:06d}"
            qa = classification_questions(
                label, classes, record_rng(seed, record_id), book, n_questions
            )
            record_meta = {"task": "classification", "label": label, **(meta or {})}
            if item.split:
                record_meta["split"] = item.split
            w.add(record_id, [item.path], qa, record_meta)
        w.report.extra = {"classes": classes, "held_out_split_items": held_out}
    return w.report


def build_classification_from_dataset(
    dataset: Any,
    out_dir: str | Path,
    class_names: Sequence[str] | None = None,
    *,
    name: str = "classification",
    seed: int = 0,
    limit: int | None = None,
    rgb_bands: Sequence[int] = (0, 1, 2),
    phrasebook: str = "scene",
    n_questions: int = 2,
    on_bad_record: OnBadRecord = "skip",
) -> BuildReport:
    """Write a corpus from a dataset of ``{"image": (C,H,W), "label": int}`` samples.

    Works with TorchGeo ``NonGeoDataset`` classification datasets (EuroSAT, UCMerced...);
    images are written as percentile-stretched PNG under ``out_dir/images``.

    Args:
        dataset: Indexable dataset with ``len()``.
        out_dir: Corpus folder.
        class_names: Names by label index (default: ``dataset.classes``).
        name: Corpus name.
        seed: Seed of the question choice.
        limit: Use at most this many samples.
        rgb_bands: Bands written to the PNG, 0-based.
        phrasebook: ``"scene"`` or ``"diagnosis"``.
        n_questions: Question/answer turns per record.
        on_bad_record: ``"skip"`` or ``"raise"``.
    """
    names = class_names if class_names is not None else getattr(dataset, "classes", None)
    if names is None:
        raise ValueError(f"{type(dataset).__name__} has no 'classes'; pass class_names.")
    count = len(dataset) if limit is None else min(limit, len(dataset))
    items = []
    image_dir = Path(out_dir) / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        sample = dataset[index]
        path = image_dir / f"{index:06d}.png"
        Image.fromarray(to_display_uint8(sample["image"], rgb_bands)).save(path)
        label = names[int(sample["label"])]
        items.append(
            LabelledImage(path, label, None, RecordSource(f"{type(dataset).__name__}[{index}]", 0))
        )
    return build_classification_corpus(
        items,
        out_dir,
        name=name,
        seed=seed,
        phrasebook=phrasebook,
        n_questions=n_questions,
        meta={"dataset": type(dataset).__name__},
        on_bad_record=on_bad_record,
    )
