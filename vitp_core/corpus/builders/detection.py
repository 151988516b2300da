"""Object boxes -> counting, grounding and referring questions.

Sources:
    * COCO-style JSON (``images``, ``annotations`` with ``bbox`` as ``[x, y, w, h]``,
      ``categories``): :func:`items_from_coco`;
    * any map-style dataset of ``{"image", "bbox_xyxy", "label"}`` samples, such as TorchGeo
      detection datasets (:func:`build_detection_from_dataset`).

A box that lies outside its image (by more than one pixel) or has no area is a bad
input: the whole image is skipped (or the build stops) with the file and the box named.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vitp_core.corpus.images import ImageReadError, check_image, to_display_uint8
from vitp_core.corpus.phrasing import record_rng
from vitp_core.corpus.questions.detection import ObjectBoxes, detection_questions
from vitp_core.corpus.records import RecordSource
from vitp_core.corpus.writer import BuildReport, CorpusWriter, OnBadRecord

__all__ = [
    "DetectionItem",
    "box_problem",
    "build_detection_corpus",
    "build_detection_from_dataset",
    "items_from_coco",
]


@dataclass(frozen=True)
class DetectionItem:
    """An image with its objects.

    Attributes:
        path: Image file.
        boxes: Pixel boxes ``[x1, y1, x2, y2]``.
        labels: Class name per box.
        source: Where the annotation was read.
    """

    path: Path
    boxes: list[list[float]]
    labels: list[str]
    source: RecordSource


def box_problem(
    box: Sequence[float], width: int, height: int, tolerance: float = 1.0
) -> str | None:
    """Why a pixel box ``[x1, y1, x2, y2]`` is unusable in a ``width`` x ``height`` image, or None.

    ``tolerance`` pixels of overshoot are allowed.
    """
    x1, y1, x2, y2 = box
    if not (x2 > x1 and y2 > y1):
        return f"box {list(box)} has no area (need x1 < x2 and y1 < y2)."
    if x1 < -tolerance or y1 < -tolerance or x2 > width + tolerance or y2 > height + tolerance:
        return f"box {list(box)} lies outside the {width}x{height} image."
    return None


def items_from_coco(path: str | Path, image_root: str | Path | None = None) -> list[DetectionItem]:
    """Read a COCO-style detection JSON.

    Args:
        path: The annotation file.
        image_root: Folder of ``file_name`` paths (default: the file's folder).

    Raises:
        ValueError: When the file lacks ``images``/``annotations``/``categories``.
    """
    path = Path(path)
    root = Path(image_root) if image_root is not None else path.parent
    spec = json.loads(path.read_text(encoding="utf-8"))
    if not all(k in spec for k in ("images", "annotations", "categories")):
        raise ValueError(f"{path}: a COCO file needs 'images', 'annotations' and 'categories'.")
    names = {c["id"]: str(c["name"]).lower() for c in spec["categories"]}
    objects: dict[Any, tuple[list, list]] = {im["id"]: ([], []) for im in spec["images"]}
    for ann in spec["annotations"]:
        x, y, w, h = ann["bbox"]
        boxes, labels = objects.setdefault(ann["image_id"], ([], []))
        boxes.append([x, y, x + w, y + h])
        labels.append(names.get(ann["category_id"], str(ann["category_id"])))
    return [
        DetectionItem(root / im["file_name"], *objects[im["id"]], RecordSource(str(path), 0))
        for im in spec["images"]
    ]


def build_detection_corpus(
    items: Sequence[DetectionItem],
    out_dir: str | Path,
    *,
    name: str = "detection",
    seed: int = 0,
    classes: Sequence[str] | None = None,
    n_questions: int = 3,
    meta: dict[str, Any] | None = None,
    on_bad_record: OnBadRecord = "skip",
    data_roots: Sequence[str | Path] = (),
) -> BuildReport:
    """Write a corpus of box questions.

    Args:
        items: Images with boxes.
        out_dir: Corpus folder.
        name: Corpus name.
        seed: Seed of the question choice.
        classes: All class names (default: those found in ``items``).
        n_questions: Question/answer turns per record.
        meta: Extra metadata for every record.
        on_bad_record: ``"skip"`` or ``"raise"``.
        data_roots: Source folders the output must not be written into.
    """
    classes = sorted({lab for i in items for lab in i.labels}) if classes is None else list(classes)
    with CorpusWriter(out_dir, name=name, on_bad_record=on_bad_record, data_roots=data_roots) as w:
        for number, item in enumerate(items):
            try:
                width, height = check_image(item.path)
            except ImageReadError as err:
                w.skip(item.source, str(err))
                continue
            problems = [p for b in item.boxes if (p := box_problem(b, width, height))]
            if problems:
                w.skip(item.source, f"{item.path.name}: {problems[0]}")
                continue
            objects = ObjectBoxes(item.boxes, item.labels, width, height, classes)
            record_id = f"{name}-{number:06d}"
            qa = detection_questions(objects, record_rng(seed, record_id), n_questions)
            if qa:
                counts = {c: item.labels.count(c) for c in sorted(set(item.labels))}
                w.add(
                    record_id,
                    [item.path],
                    qa,
                    {"task": "detection", "objects": counts, **(meta or {})},
                )
    return w.report


def build_detection_from_dataset(
    dataset: Any,
    out_dir: str | Path,
    class_names: Sequence[str] | None = None,
    *,
    name: str = "detection",
    seed: int = 0,
    limit: int | None = None,
    rgb_bands: Sequence[int] = (0, 1, 2),
    n_questions: int = 3,
    on_bad_record: OnBadRecord = "skip",
) -> BuildReport:
    """Write a corpus from samples with ``image`` (C,H,W), ``bbox_xyxy`` (N,4) and ``label`` (N,).

    Args:
        dataset: Indexable dataset with ``len()`` (e.g. TorchGeo VHR10, DOTA).
        out_dir: Corpus folder; images are written as PNG under ``out_dir/images``.
        class_names: Names by label index (default: ``dataset.classes``).
        name: Corpus name.
        seed: Seed of the question choice.
        limit: Use at most this many samples.
        rgb_bands: Bands written to the PNG, 0-based.
        n_questions: Question/answer turns per record.
        on_bad_record: ``"skip"`` or ``"raise"``.
    """
    names = class_names if class_names is not None else getattr(dataset, "classes", None)
    if names is None:
        raise ValueError(f"{type(dataset).__name__} has no 'classes'; pass class_names.")
    count = len(dataset) if limit is None else min(limit, len(dataset))
    image_dir = Path(out_dir) / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for index in range(count):
        sample = dataset[index]
        path = image_dir / f"{index:06d}.png"
        Image.fromarray(to_display_uint8(sample["image"], rgb_bands)).save(path)
        boxes = np.asarray(sample.get("bbox_xyxy", sample.get("boxes")), dtype=np.float64).reshape(
            -1, 4
        )
        labels = [str(names[int(v)]).lower() for v in np.asarray(sample["label"]).reshape(-1)]
        source = RecordSource(f"{type(dataset).__name__}[{index}]", 0)
        items.append(DetectionItem(path, boxes.tolist(), labels, source))
    return build_detection_corpus(
        items,
        out_dir,
        name=name,
        seed=seed,
        classes=[str(n).lower() for n in names],
        n_questions=n_questions,
        meta={"dataset": type(dataset).__name__},
        on_bad_record=on_bad_record,
    )
