"""Datalists from MedMNIST ``.npz`` files (2D and 3D), as in-memory records for MONAI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np

__all__ = ["medmnist_datalist"]


def medmnist_datalist(
    npz_path: str | os.PathLike[str],
    split: Literal["train", "val", "test"] = "train",
    max_items: int | None = None,
) -> list[dict[str, np.ndarray | int]]:
    """Read one split of a MedMNIST file as ``{"image": array, "label": int}`` records.

    Args:
        npz_path: A MedMNIST v2 ``.npz`` (``{split}_images``, ``{split}_labels``), e.g.
            ``pneumoniamnist.npz`` (2D, 28x28) or ``adrenalmnist3d.npz`` (3D, 28^3).
        split: ``"train"``, ``"val"`` or ``"test"``.
        max_items: Keep only the first ``max_items`` records (short runs).

    Returns:
        Records with ``image`` float32 of shape ``(1, *spatial)`` in ``[0, 255]`` (channel
        first, as ``EnsureChannelFirstd`` would give) and an integer ``label``.

    Raises:
        FileNotFoundError: When the file is missing.
        KeyError: When the split is not in the file.
    """
    path = Path(npz_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"MedMNIST file {path} not found; set dataset_dir to the folder holding it "
            "(e.g. --dataset_dir $VITP_DATA/med/medmnist)."
        )
    with np.load(path) as arrays:
        names = (f"{split}_images", f"{split}_labels")
        missing = [n for n in names if n not in arrays]
        if missing:
            raise KeyError(f"{path} has no {missing}; it holds {sorted(arrays.files)}.")
        images, labels = arrays[names[0]], arrays[names[1]]
    if images.ndim == 4 and images.shape[-1] == 3:  # 2D RGB, stored (N, H, W, 3)
        images = np.moveaxis(images, -1, 1)
    else:  # 2D grey (N, H, W) or 3D (N, D, H, W)
        images = images[:, None]
    count = len(images) if max_items is None or max_items <= 0 else min(max_items, len(images))
    return [
        {"image": images[i].astype(np.float32), "label": int(labels[i].reshape(-1)[0])}
        for i in range(count)
    ]
