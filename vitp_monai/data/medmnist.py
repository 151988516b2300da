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
        max_items: Keep ``max_items`` records spread evenly over the split (short runs); the
            shared MedMNIST files are stored sorted by label, so a prefix would hold one class.

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
    if max_items is None or max_items <= 0 or max_items >= len(images):
        indices = np.arange(len(images))
    else:  # evenly spread: keeps the class mix of files stored sorted by label
        indices = np.linspace(0, len(images) - 1, max_items).round().astype(int)
    return [
        {"image": images[i].astype(np.float32), "label": int(labels[i].reshape(-1)[0])}
        for i in indices
    ]
