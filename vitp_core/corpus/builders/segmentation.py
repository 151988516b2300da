"""Segmentation masks -> questions about classes, shares, regions, boxes and counts.

Sources:
    * image + mask folders (index or colour-coded masks with a class map), e.g. the Dubai
      layout ``tile_*/images/x.jpg`` + ``tile_*/masks/x.png``;
    * any TorchGeo dataset whose samples hold ``image`` and ``mask``
      (:func:`build_segmentation_from_dataset`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vitp_core.corpus.class_map import ClassMap, MaskDecodeError, read_label_mask
from vitp_core.corpus.images import (
    PIL_SUFFIXES,
    ImageReadError,
    ImageTooLargeError,
    image_size,
    to_display_uint8,
)
from vitp_core.corpus.phrasing import record_rng
from vitp_core.corpus.questions.segmentation import MaskLabels, mask_questions, summarize_mask
from vitp_core.corpus.writer import BuildReport, CorpusWriter, OnBadRecord

__all__ = [
    "add_mask_record",
    "build_segmentation_corpus",
    "build_segmentation_from_dataset",
    "find_image_mask_pairs",
]


def find_image_mask_pairs(
    root: str | Path, images: str = "images", masks: str = "masks"
) -> list[tuple[Path, Path | None]]:
    """Pair every image under a folder named ``images`` with the same-stem file in ``masks``.

    Works for a flat ``root/images`` + ``root/masks`` layout and for nested ones
    (``root/tile_1/images``...). A missing mask is paired with ``None`` so the
    builder can report it.

    Raises:
        FileNotFoundError: When ``root`` holds no ``images`` folder.
    """
    root = Path(root)
    image_dirs = sorted(p for p in [root / images, *root.rglob(images)] if p.is_dir())
    if not image_dirs:
        raise FileNotFoundError(f"{root}: no '{images}' folder with images found.")
    pairs = []
    for image_dir in dict.fromkeys(image_dirs):
        mask_dir = image_dir.parent / masks
        found = {p.stem: p for p in mask_dir.glob("*")} if mask_dir.is_dir() else {}
        for image in sorted(image_dir.iterdir()):
            if image.suffix.lower() in PIL_SUFFIXES | {".tif", ".tiff"}:
                pairs.append((image, found.get(image.stem)))
    return pairs


def add_mask_record(
    writer: CorpusWriter,
    record_id: str,
    images: Sequence[Path],
    mask: np.ndarray,
    labels: MaskLabels,
    seed: int,
    meta: dict[str, Any],
    n_questions: int = 3,
) -> bool:
    """Summarise a mask, ask questions about it and add the record.

    Returns:
        Whether a record was added (a mask without any class gives none).
    """
    summary = summarize_mask(mask, labels)
    qa = mask_questions(summary, labels, record_rng(seed, record_id), n_questions)
    if not qa:
        return False
    present = [labels.names[k] for k in summary.present]
    writer.add(record_id, images, qa, {"task": "segmentation", "classes": present, **meta})
    return True


def _refuse_oversized(*paths: Path) -> None:
    """Raise :class:`ImageTooLargeError` for a file whose header declares too many pixels.

    Other problems are left to the readers that follow, which report them as before.
    """
    for path in paths:
        try:
            image_size(path)
        except ImageTooLargeError:
            raise
        except ImageReadError:
            pass


def build_segmentation_corpus(
    pairs: Iterable[tuple[Path, Path | None]],
    out_dir: str | Path,
    class_map: ClassMap,
    *,
    name: str = "segmentation",
    seed: int = 0,
    n_questions: int = 3,
    noun: str = "land-cover classes",
    countable: Sequence[str] | None = None,
    meta: dict[str, Any] | None = None,
    on_bad_record: OnBadRecord = "skip",
    data_roots: Sequence[str | Path] = (),
) -> BuildReport:
    """Write a corpus of mask questions for image/mask pairs.

    Args:
        pairs: ``(image, mask)`` files; ``mask=None`` is reported as a bad input.
        out_dir: Corpus folder.
        class_map: Meaning of the mask values or colours.
        name: Corpus name.
        seed: Seed of the question choice.
        n_questions: Question/answer turns per record.
        noun: Plural noun for the classes in questions.
        countable: Class names whose regions are counted/grounded (default: all).
        meta: Extra metadata for every record (``modality``, ``gsd``...).
        on_bad_record: ``"skip"`` or ``"raise"``.
        data_roots: Source folders the output must not be written into.

    Returns:
        The build report.
    """
    labels = _mask_labels(class_map, noun, countable)
    with CorpusWriter(out_dir, name=name, on_bad_record=on_bad_record, data_roots=data_roots) as w:
        for number, (image, mask_path) in enumerate(pairs):
            if mask_path is None:
                w.skip(image, "no mask with the same file name; add it or remove the image.")
                continue
            try:
                _refuse_oversized(image, mask_path)
                mask = read_label_mask(mask_path, class_map)
                size = image_size(image)
            except ImageTooLargeError as err:
                w.skip(err.path, err.reason)
                continue
            except MaskDecodeError as err:
                w.skip(mask_path, str(err).split(": ", 1)[-1])
                continue
            except OSError as err:
                w.skip(image, f"unreadable image or mask ({err}).")
                continue
            if size != (mask.shape[1], mask.shape[0]):
                w.skip(
                    mask_path,
                    f"mask is {mask.shape[1]}x{mask.shape[0]} but image is {size[0]}x{size[1]}.",
                )
                continue
            record_meta = {"image_size": list(size), **(meta or {})}
            add_mask_record(
                w, f"{name}-{number:06d}", [image], mask, labels, seed, record_meta, n_questions
            )
    return w.report


def _mask_labels(class_map: ClassMap, noun: str, countable: Sequence[str] | None) -> MaskLabels:
    if countable is None:
        count_ids = None
    else:
        wanted = {c.lower() for c in countable}
        count_ids = frozenset(k for k, v in class_map.names.items() if v.lower() in wanted)
    return MaskLabels(class_map.names, class_map.ignore, count_ids, noun)


def build_segmentation_from_dataset(
    dataset: Any,
    out_dir: str | Path,
    class_names: Sequence[str] | dict[int, str] | None = None,
    *,
    name: str = "segmentation",
    seed: int = 0,
    limit: int | None = None,
    rgb_bands: Sequence[int] = (0, 1, 2),
    n_questions: int = 3,
    noun: str = "land-cover classes",
    on_bad_record: OnBadRecord = "skip",
) -> BuildReport:
    """Write a corpus from a map-style dataset of ``{"image": (C,H,W), "mask": (H,W)}`` samples.

    Works with TorchGeo ``NonGeoDataset`` segmentation datasets; images are written as
    PNG (``rgb_bands`` 0-based, percentile-stretched) under ``out_dir/images``.

    Args:
        dataset: Indexable dataset with ``len()``.
        out_dir: Corpus folder.
        class_names: Names by mask value (default: ``dataset.classes``).
        name: Corpus name.
        seed: Seed of the question choice.
        limit: Use at most this many samples.
        rgb_bands: Bands written to the PNG, 0-based.
        n_questions: Question/answer turns per record.
        noun: Plural noun for the classes in questions.
        on_bad_record: ``"skip"`` or ``"raise"``.
    """
    names = class_names if class_names is not None else getattr(dataset, "classes", None)
    if names is None:
        raise ValueError(f"{type(dataset).__name__} has no 'classes'; pass class_names.")
    class_map = ClassMap.from_names(names)
    labels = MaskLabels(class_map.names, class_map.ignore, None, noun)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    with CorpusWriter(out_dir, name=name, on_bad_record=on_bad_record) as w:
        for index in range(count):
            sample = dataset[index]
            mask = np.asarray(sample["mask"]).squeeze()
            path = w.image_path(f"images/{index:06d}.png")
            Image.fromarray(to_display_uint8(sample["image"], rgb_bands)).save(path)
            meta = {"dataset": type(dataset).__name__, "index": index}
            add_mask_record(w, f"{name}-{index:06d}", [path], mask, labels, seed, meta, n_questions)
    return w.report
