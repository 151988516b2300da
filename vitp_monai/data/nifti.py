"""Datalists of paired NIfTI images and labels (Medical Segmentation Decathlon layout)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

__all__ = ["paired_nifti_datalist", "split_cases"]

Split = Literal["train", "val", "all"]


def split_cases(cases: list, split: Split, val_fraction: float) -> list:
    """Deterministic split: the last ``round(len * val_fraction)`` cases (at least 1) validate.

    Args:
        cases: Items in a fixed (sorted) order.
        split: ``"train"``, ``"val"`` or ``"all"``.
        val_fraction: Share of cases held out for validation, in ``[0, 1)``.

    Returns:
        The chosen items.
    """
    if split == "all":
        return list(cases)
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}.")
    num_val = max(1, round(len(cases) * val_fraction)) if val_fraction > 0 else 0
    if split == "train":
        return list(cases[: len(cases) - num_val])
    if split == "val":
        return list(cases[len(cases) - num_val :])
    raise ValueError(f"split must be 'train', 'val' or 'all', got {split!r}.")


def paired_nifti_datalist(
    dataset_dir: str | os.PathLike[str],
    split: Split = "train",
    val_fraction: float = 0.2,
    max_cases: int | None = None,
    image_dir: str = "images",
    label_dir: str | None = "labels",
    pattern: str = "*.nii.gz",
) -> list[dict[str, str]]:
    """List ``{"image": path, "label": path}`` records for ``monai.data`` datasets.

    Images ``dataset_dir/image_dir/<name>`` are paired with ``dataset_dir/label_dir/<name>``
    by file name (the layout of the Decathlon's ``imagesTr``/``labelsTr``).

    Args:
        dataset_dir: Dataset root.
        split: ``"train"``, ``"val"`` (the last ``val_fraction`` of sorted cases) or ``"all"``.
        val_fraction: Share of cases held out for validation.
        max_cases: Keep only the first ``max_cases`` records of the split (short runs).
        image_dir: Image folder under ``dataset_dir``.
        label_dir: Label folder under ``dataset_dir``; ``None`` lists images only.
        pattern: Glob of image files.

    Returns:
        Records sorted by file name.

    Raises:
        FileNotFoundError: When the image folder is missing or empty, or an image has no label.
    """
    root = Path(dataset_dir).expanduser()
    images = sorted((root / image_dir).glob(pattern))
    if not images:
        raise FileNotFoundError(
            f"No images matching {pattern!r} in {root / image_dir}. Set dataset_dir to a folder "
            f"with {image_dir}/ and {label_dir}/ (e.g. --dataset_dir $VITP_DATA/med/hippocampus)."
        )
    records = []
    for image in images:
        record = {"image": str(image)}
        if label_dir is not None:
            label = root / label_dir / image.name
            if not label.is_file():
                raise FileNotFoundError(
                    f"Image {image} has no label {label}; every image needs a label of the same "
                    "file name."
                )
            record["label"] = str(label)
        records.append(record)
    chosen = split_cases(records, split, val_fraction)
    return chosen if max_cases is None or max_cases <= 0 else chosen[:max_cases]
