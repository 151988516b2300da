"""Datalists of plain image folders: images only, image + mask (+ field of view), classes.

For MONAI ``Dataset``/``CacheDataset`` records, as the bundles' configs call them:

* :func:`image_datalist`: every image (PNG/JPEG/TIFF/BMP/GIF, or NIfTI volumes) of a
  folder, for inference on data without labels;
* :func:`image_mask_datalist`: images paired with masks (and optional field-of-view
  masks) by file name, e.g. retina fundus ``21_training.tif`` + ``21_manual1.gif`` +
  ``21_training_mask.gif`` (DRIVE), or ultrasound ``benign (1).png`` + ``benign (1)_mask.png``
  in one folder (BUSI);
* :func:`image_class_datalist`: images in one sub-folder per class, or a CSV labels file.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

from vitp_monai.data.nifti import Split, split_cases

__all__ = ["IMAGE_SUFFIXES", "image_class_datalist", "image_datalist", "image_mask_datalist"]

#: File suffixes taken as 2D images.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif")
_VOLUME_SUFFIXES = (".nii", ".nii.gz", ".mha", ".nrrd")


def _suffix(path: Path) -> str:
    return ".nii.gz" if path.name.lower().endswith(".nii.gz") else path.suffix.lower()


def _stem(path: Path) -> str:
    return path.name[: -len(_suffix(path))] if _suffix(path) else path.name


def _images(folder: Path, suffixes: Sequence[str]) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"Image folder {folder} does not exist; set dataset_dir/image_dir.")
    return sorted(p for p in folder.iterdir() if p.is_file() and _suffix(p) in suffixes)


def _folder(dataset_dir: str | os.PathLike[str], sub: str | None) -> Path:
    """``dataset_dir/sub`` when it exists, else ``dataset_dir`` (a flat folder)."""
    root = Path(dataset_dir).expanduser()
    return root / sub if sub and (root / sub).is_dir() else root


def image_datalist(
    dataset_dir: str | os.PathLike[str],
    image_dir: str | None = "images",
    suffixes: Sequence[str] = IMAGE_SUFFIXES + _VOLUME_SUFFIXES,
    max_items: int | None = None,
    exclude_suffix: str | None = None,
) -> list[dict[str, str]]:
    """``{"image": path}`` for every image of ``dataset_dir/image_dir`` (or ``dataset_dir``).

    Args:
        dataset_dir: Folder of images or volumes, or one holding ``image_dir``.
        image_dir: Sub-folder with the images; used when it exists.
        suffixes: File suffixes to take.
        max_items: Keep the first ``max_items`` (0/``None``: all).
        exclude_suffix: Leave out files whose stem ends with it (masks beside images).

    Returns:
        Records sorted by file name.

    Raises:
        FileNotFoundError: When there is no image.
    """
    folder = _folder(dataset_dir, image_dir)
    images = [
        p
        for p in _images(folder, suffixes)
        if not (exclude_suffix and _stem(p).endswith(exclude_suffix))
    ]
    if not images:
        raise FileNotFoundError(f"No images ({', '.join(suffixes)}) in {folder}.")
    records = [{"image": str(p)} for p in images]
    return records if not max_items or max_items <= 0 else records[:max_items]


def _partner(folder: Path, key: str, suffix: str, image: Path, what: str) -> Path:
    matches = [p for p in _images(folder, IMAGE_SUFFIXES) if _stem(p) == key + suffix]
    if not matches:
        raise FileNotFoundError(
            f"Image {image} has no {what} named {key + suffix}.* in {folder}; set {what}_dir "
            f"and {what}_suffix (e.g. mask_suffix: _manual1) to match the file names."
        )
    return matches[0]


def image_mask_datalist(
    dataset_dir: str | os.PathLike[str],
    split: Split = "train",
    val_fraction: float = 0.2,
    max_items: int | None = None,
    image_dir: str | None = "images",
    mask_dir: str | None = "masks",
    fov_dir: str | None = None,
    image_suffix: str = "",
    mask_suffix: str = "",
    fov_suffix: str = "",
) -> list[dict[str, str]]:
    """Images with their masks (and field-of-view masks), paired by file name.

    An image ``<key><image_suffix>.<ext>`` in ``image_dir`` pairs with
    ``<key><mask_suffix>.<any ext>`` in ``mask_dir`` and ``<key><fov_suffix>.<any ext>`` in
    ``fov_dir``. Masks may sit beside the images (``mask_dir`` equal to ``image_dir`` with a
    ``mask_suffix``); such files are not taken as images.

    Args:
        dataset_dir: Dataset root.
        split: ``train``, ``val`` (last ``val_fraction`` of sorted images) or ``all``.
        val_fraction: Share of images held out for validation.
        max_items: Keep the first ``max_items`` records of the split.
        image_dir: Image folder under ``dataset_dir`` (``None``/missing: the root).
        mask_dir: Mask folder (``None``: images only).
        fov_dir: Field-of-view folder (``None``: no field of view).
        image_suffix: End of image stems not part of the key (``_training``).
        mask_suffix: End of mask stems after the key (``_manual1``, ``_mask``).
        fov_suffix: End of field-of-view stems after the key (``_training_mask``).

    Returns:
        Records ``{"image", "label"[, "fov"]}`` sorted by image name.

    Raises:
        FileNotFoundError: When a folder is missing or an image has no mask / FOV.
    """
    image_folder = _folder(dataset_dir, image_dir)
    mask_folder = None if mask_dir is None else _folder(dataset_dir, mask_dir)
    fov_folder = None if fov_dir is None else _folder(dataset_dir, fov_dir)
    partners = {mask_folder: mask_suffix, fov_folder: fov_suffix}
    skip = [s for folder, s in partners.items() if folder == image_folder and s]
    records = []
    for image in _images(image_folder, IMAGE_SUFFIXES):
        stem = _stem(image)
        if any(stem.endswith(s) for s in skip) or not stem.endswith(image_suffix):
            continue
        key = stem[: len(stem) - len(image_suffix)] if image_suffix else stem
        record = {"image": str(image)}
        if mask_folder is not None:
            record["label"] = str(_partner(mask_folder, key, mask_suffix, image, "mask"))
        if fov_folder is not None:
            record["fov"] = str(_partner(fov_folder, key, fov_suffix, image, "fov"))
        records.append(record)
    if not records:
        raise FileNotFoundError(f"No images in {image_folder} (suffix {image_suffix!r}).")
    chosen = split_cases(records, split, val_fraction)
    return chosen if not max_items or max_items <= 0 else chosen[:max_items]


def image_class_datalist(
    dataset_dir: str | os.PathLike[str],
    split: Split = "train",
    val_fraction: float = 0.2,
    max_items: int | None = None,
    labels_file: str | None = None,
    class_names: Sequence[str] | None = None,
) -> list[dict[str, str | int]]:
    """Images with class indices, from class sub-folders or a CSV labels file.

    Args:
        dataset_dir: Folder with one sub-folder of images per class, or the folder that
            ``labels_file`` paths are relative to.
        split: ``train``, ``val``, ``test`` (labels file only) or ``all``. Without a
            ``split`` column, the last ``val_fraction`` of each class validates.
        val_fraction: Share of each class held out for validation.
        max_items: Keep the first ``max_items`` records of the split.
        labels_file: CSV with ``image`` and ``label`` columns (and optionally ``split``).
        class_names: Class names in index order; default the sorted names found.

    Returns:
        Records ``{"image": path, "label": index}``.

    Raises:
        FileNotFoundError: When nothing is found.
        ValueError: When a label is not one of ``class_names`` (file and line named).
    """
    root = Path(dataset_dir).expanduser()
    rows: list[tuple[Path, str, str | None]] = []
    if labels_file:
        table = Path(labels_file) if Path(labels_file).is_absolute() else root / labels_file
        with open(table, newline="", encoding="utf-8") as handle:
            for number, row in enumerate(csv.DictReader(handle), 2):
                if not row.get("image") or not row.get("label"):
                    raise ValueError(f"{table}:{number}: needs 'image' and 'label' values.")
                rows.append((root / row["image"], row["label"], row.get("split") or None))
    else:
        if not root.is_dir():
            raise FileNotFoundError(f"{root} does not exist; set dataset_dir.")
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            rows += [(p, folder.name, None) for p in _images(folder, IMAGE_SUFFIXES)]
    if not rows:
        raise FileNotFoundError(f"No labelled images under {root} (class folders or labels_file).")
    names = list(class_names) if class_names else sorted({label for _, label, _ in rows})
    unknown = sorted({label for _, label, _ in rows} - set(names))
    if unknown:
        raise ValueError(f"Labels {unknown} are not in class_names {names}.")
    chosen = []
    for name in names:
        of_class = [(p, s) for p, label, s in rows if label == name]
        if any(s is not None for _, s in of_class):
            picked = [p for p, s in of_class if split in ("all", s)]
        else:
            picked = split_cases(
                [p for p, _ in of_class], "all" if split == "test" else split, val_fraction
            )
            picked = [] if split == "test" else picked
        chosen += [{"image": str(p), "label": names.index(name)} for p in picked]
    if not max_items or max_items <= 0 or max_items >= len(chosen):
        return chosen
    step = len(chosen) / max_items  # evenly spread: every class keeps its share
    return [chosen[int(i * step)] for i in range(max_items)]
