"""MedMNIST ``.npz`` arrays -> diagnosis questions.

A MedMNIST file holds ``{split}_images`` (``(N, H, W)``, ``(N, H, W, 3)`` or 3D
``(N, D, H, W)``) and ``{split}_labels`` for ``train``, ``val`` and ``test``. 2D images
are written as PNG; a 3D volume as its three central orthogonal slices, one
multi-image record. The ``test`` split is left out by default.

Class names come from :data:`MEDMNIST_LABELS` (MedMNIST v2's ``INFO``) for the known
files, or from a class map for others. Multi-label sets (ChestMNIST) are not supported.

Bad inputs are skipped or raised (``on_bad_record``): a split whose array header declares
images larger than the pixel limit (checked before anything is decompressed) and images
with NaN/Inf values.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vitp_core.corpus.images import ImageReadError, max_image_pixels, npz_declared_shapes
from vitp_core.corpus.phrasing import record_rng
from vitp_core.corpus.questions.classification import DIAGNOSIS, classification_questions
from vitp_core.corpus.writer import BuildReport, CorpusWriter, OnBadRecord

__all__ = ["MEDMNIST_LABELS", "MEDMNIST_MODALITY", "build_medmnist_corpus"]

#: Label names of MedMNIST v2 binary/multi-class sets (from ``medmnist.INFO``).
MEDMNIST_LABELS: dict[str, dict[int, str]] = {
    "pneumoniamnist": {0: "normal", 1: "pneumonia"},
    "breastmnist": {0: "malignant", 1: "normal or benign"},
    "adrenalmnist3d": {0: "normal", 1: "hyperplasia"},
}
MEDMNIST_MODALITY = {
    "pneumoniamnist": "chest X-ray",
    "breastmnist": "breast ultrasound",
    "adrenalmnist3d": "abdominal CT (adrenal shape)",
}


def _dataset_key(path: Path) -> str:
    """``adrenalmnist3d_64.npz`` -> ``adrenalmnist3d``."""
    return path.stem.split("_")[0].lower()


def _to_picture(array: np.ndarray, channels: int) -> Image.Image:
    array = np.asarray(array)
    if array.dtype != np.uint8:
        low, high = float(array.min()), float(array.max())
        array = ((array - low) / max(high - low, 1e-6) * 255 + 0.5).astype(np.uint8)
    picture = Image.fromarray(array)
    return picture.convert("RGB") if channels == 3 else picture.convert("L")


def _write_views(image: np.ndarray, stem: str, w: CorpusWriter, channels: int) -> list[Path]:
    """Write a 2D image, or the 3 central slices of a 3D one, and return the paths."""
    if image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3):
        path = w.image_path(f"images/{stem}.png")
        _to_picture(image, channels).save(path)
        return [path]
    paths = []
    for axis, plane in ((0, "axial"), (1, "coronal"), (2, "sagittal")):
        path = w.image_path(f"images/{stem}_{plane}.png")
        _to_picture(np.take(image, image.shape[axis] // 2, axis=axis), channels).save(path)
        paths.append(path)
    return paths


def _split_problem(shape: tuple[int, ...] | None, split: str, limit: int) -> str | None:
    """Why the images a split declares cannot be read, or ``None``."""
    if shape is None or len(shape) < 3:
        return None  # a missing split or a wrong rank is reported when it is read
    image = shape[1:-1] if shape[-1] == 3 and len(shape) == 4 else shape[1:]
    pixels = int(np.prod(image, dtype=np.int64))
    if pixels <= limit:
        return None
    return (
        f"{split}_images declares images of {'x'.join(map(str, image))} "
        f"({pixels / 1e6:g} million pixels each), above the limit of {limit / 1e6:g} million; "
        "not read: raise max_image_pixels (or VITP_MAX_IMAGE_PIXELS) if the file is genuine."
    )


def _finite_problem(image: np.ndarray, split: str, index: int) -> str | None:
    if image.dtype.kind not in "fc":
        return None
    bad = int(np.count_nonzero(~np.isfinite(image)))
    if not bad:
        return None
    return f"{split}_images[{index}]: {bad} non-finite value(s) (NaN/Inf); the image was skipped."


def build_medmnist_corpus(
    npz_path: str | Path,
    out_dir: str | Path,
    *,
    class_names: dict[int, str] | None = None,
    name: str | None = None,
    seed: int = 0,
    splits: Sequence[str] = ("train", "val"),
    limit_per_split: int | None = None,
    channels: int = 3,
    n_questions: int = 2,
    on_bad_record: OnBadRecord = "skip",
    data_roots: Sequence[str | Path] = (),
    max_pixels: int | None = None,
) -> BuildReport:
    """Write a corpus of diagnosis questions from a MedMNIST ``.npz`` file.

    Args:
        npz_path: The MedMNIST file.
        out_dir: Corpus folder; images are written under ``out_dir/images``.
        class_names: Label -> name (default: :data:`MEDMNIST_LABELS` by file name).
        name: Corpus name (default: the dataset key, e.g. ``pneumoniamnist``).
        seed: Seed of the question choice.
        splits: Splits to include; ``test`` is left out by default.
        limit_per_split: Use at most this many images per split.
        channels: 3 writes RGB PNG (equal channels), 1 grey PNG.
        n_questions: Question/answer turns per record.
        on_bad_record: ``"skip"`` or ``"raise"``.
        data_roots: Source folders the output must not be written into.
        max_pixels: Largest image (pixels, or voxels for 3D sets) accepted, checked from
            the array headers (default: see
            :func:`~vitp_core.corpus.images.max_image_pixels`).

    Raises:
        ValueError: For unknown class names, a multi-label file or an unreadable archive.
    """
    npz_path = Path(npz_path)
    key = _dataset_key(npz_path)
    names = class_names or MEDMNIST_LABELS.get(key)
    if names is None:
        raise ValueError(f"{npz_path}: unknown MedMNIST set {key!r}; pass class_names.")
    name = name or key
    classes = [names[k] for k in sorted(names)]
    meta_base: dict[str, Any] = {
        "task": "classification",
        "modality": MEDMNIST_MODALITY.get(key, "medical"),
    }
    try:
        shapes = npz_declared_shapes(npz_path)
    except ImageReadError as err:
        raise ValueError(str(err)) from err
    limit = max_image_pixels(max_pixels)
    with (
        np.load(npz_path, allow_pickle=False) as data,
        CorpusWriter(out_dir, name=name, on_bad_record=on_bad_record, data_roots=data_roots) as w,
    ):
        for split in splits:
            if f"{split}_images" not in data.files:
                raise ValueError(f"{npz_path}: no '{split}_images' array (have {data.files}).")
            too_large = _split_problem(shapes.get(f"{split}_images"), split, limit)
            if too_large:
                w.skip(npz_path, too_large)
                continue
            images, labels = (
                data[f"{split}_images"],
                data[f"{split}_labels"].reshape(len(data[f"{split}_images"]), -1),
            )
            if labels.shape[1] != 1:
                raise ValueError(
                    f"{npz_path}: multi-label sets are not supported ({labels.shape[1]} labels)."
                )
            count = len(images) if limit_per_split is None else min(limit_per_split, len(images))
            for index in range(count):
                value = int(labels[index, 0])
                if value not in names:
                    w.skip(
                        npz_path,
                        f"{split}_labels[{index}] = {value} is not a known class {sorted(names)}.",
                    )
                    continue
                non_finite = _finite_problem(images[index], split, index)
                if non_finite:
                    w.skip(npz_path, non_finite)
                    continue
                stem = f"{split}_{index:05d}"
                paths = _write_views(images[index], stem, w, channels)
                record_id = f"{name}-{stem}"
                qa = classification_questions(
                    names[value], classes, record_rng(seed, record_id), DIAGNOSIS, n_questions
                )
                bands = ["red", "green", "blue"] if channels == 3 else ["gray"]
                w.add(
                    record_id,
                    paths,
                    qa,
                    {**meta_base, "label": names[value], "split": split, "bands": bands},
                )
    return w.report
