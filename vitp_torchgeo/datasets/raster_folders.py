"""Datasets over plain folders or lists of rasters, any band count (TorchGeo NonGeo style).

* :class:`RasterSegmentationDataset`: image rasters with label rasters on the same grid.
* :class:`RasterChangeDetectionDataset`: two dates of a scene with a (possibly sparse)
  change label raster.
* :class:`RasterClassificationDataset`: one raster chip per sample with a class.

Scenes of any size are cut into ``patch_size`` windows read on demand (GDAL windowed
reads), bands are selected by 1-based number or by name (see
:mod:`vitp_torchgeo.datasets.rasters`) and each raster is normalised with the statistics
the datamodule gives (one mean/std for all files, or per file). Invalid input pixels
(nodata, outside the scene) are set to 0 after normalisation and, in label rasters, to
``ignore_index``; so are label values marked unlabelled. Windows without any labelled
pixel are left out of segmentation and change datasets.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rasterio.io import DatasetReader
from rasterio.windows import Window
from torch import Tensor
from torchgeo.datasets import NonGeoDataset

from vitp_torchgeo.datasets.rasters import (
    BandSelection,
    RasterInputError,
    check_coregistered,
    open_raster,
    read_window,
    resolve_band_indexes,
)
from vitp_torchgeo.datasets.windows import window_starts

__all__ = [
    "RasterChangeDetectionDataset",
    "RasterClassificationDataset",
    "RasterSegmentationDataset",
    "Statistics",
    "list_rasters",
]

#: Per-file ``(mean, std)`` arrays of the selected bands, keyed by path.
Statistics = Mapping[Path, tuple[Sequence[float], Sequence[float]]]
Transforms = Callable[[dict[str, Tensor]], dict[str, Tensor]]

#: Sidecar and metadata suffixes that are never rasters themselves.
_NOT_RASTERS = {".hdr", ".xml", ".ovr", ".aux", ".json", ".txt", ".csv", ".md", ".prj"}
_NOT_RASTERS |= {".tfw", ".wld", ".jgw", ".pgw", ".yaml", ".yml", ".qml", ".cpg", ".dbf"}


def list_rasters(folder: str | os.PathLike[str]) -> list[Path]:
    """Raster files of a folder, sorted (sidecars such as ``.hdr``/``.aux.xml`` skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Folder {folder} does not exist.")
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file()
        and not path.name.startswith(".")
        and path.suffix.lower() not in _NOT_RASTERS
    )


def map_labels(
    raw: np.ndarray,
    path: Path,
    mask_values: Mapping[int, int] | None,
    ignore_index: int | None,
    unlabelled: np.ndarray | None = None,
) -> np.ndarray:
    """Label raster values -> class indices (``ignore_index`` where unlabelled).

    Args:
        raw: Label window as read.
        path: Label file, for messages.
        mask_values: ``{raster value: class index}``; other values are unlabelled. ``None``
            uses the values as class indices.
        ignore_index: Class index of unlabelled pixels.
        unlabelled: Pixels known to be unlabelled (label nodata, invalid input).

    Returns:
        ``int64`` class indices.

    Raises:
        RasterInputError: When an unlabelled pixel exists but no ``ignore_index`` is set.
    """
    raw = raw.astype(np.int64)
    if mask_values is None:
        labels = raw.copy()
        other = np.zeros(raw.shape, dtype=bool)
    else:
        labels = np.zeros(raw.shape, dtype=np.int64)
        other = np.ones(raw.shape, dtype=bool)
        for value, index in mask_values.items():
            hit = raw == int(value)
            labels[hit] = int(index)
            other &= ~hit
    if unlabelled is not None:
        other |= unlabelled
    if other.any():
        if ignore_index is None:
            values = sorted(set(np.unique(raw[other]).tolist()))[:10]
            raise RasterInputError(
                f"{path}: pixels with values {values} (or nodata) are not in mask_values "
                f"{dict(mask_values or {})}; set ignore_index to mark them unlabelled."
            )
        labels[other] = ignore_index
    return labels


@dataclass(frozen=True)
class _Window:
    """One training window: which files (by index in the dataset's lists) and where."""

    item: int
    row: int
    col: int


class _RasterWindows(NonGeoDataset):
    """Shared machinery: band indexes, normalisation and labelled windows of rasters."""

    def __init__(
        self,
        inputs: Sequence[Sequence[str | os.PathLike[str]]],
        masks: Sequence[str | os.PathLike[str]] | None,
        bands: BandSelection,
        band_names: Sequence[str] | None,
        statistics: Statistics,
        patch_size: int,
        stride: int | None,
        mask_values: Mapping[int, int] | None,
        ignore_index: int | None,
        transforms: Transforms | None,
        rows: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        self.inputs = [[Path(p) for p in item] for item in inputs]
        self.masks = None if masks is None else [Path(p) for p in masks]
        if self.masks is not None and len(self.masks) != len(self.inputs):
            raise RasterInputError(
                f"{len(self.inputs)} images but {len(self.masks)} label rasters; give one each."
            )
        self.band_names = None if band_names is None else list(band_names)
        self.patch_size = patch_size
        self.stride = stride or patch_size
        self.mask_values = (
            None if mask_values is None else {int(k): int(v) for k, v in mask_values.items()}
        )
        self.ignore_index = ignore_index
        self.transforms = transforms
        self.indexes = [[self._bands(path, bands) for path in item] for item in self.inputs]
        self.statistics = {
            path: (
                np.asarray(statistics[path][0], dtype=np.float32)[:, None, None],
                np.asarray(statistics[path][1], dtype=np.float32)[:, None, None],
            )
            for item in self.inputs
            for path in item
        }
        self.windows = [w for i in range(len(self.inputs)) for w in self._item_windows(i, rows)]
        if not self.windows:
            raise RasterInputError(
                f"No labelled {patch_size} px window in {[str(i[0]) for i in self.inputs]}."
            )

    def _bands(self, path: Path, bands: BandSelection) -> list[int]:
        with open_raster(path) as src:
            return resolve_band_indexes(path, src, bands, self.band_names)

    def _item_windows(self, item: int, rows: tuple[float, float]) -> list[_Window]:
        """Windows of one item inside the row range, checking co-registration."""
        paths = self.inputs[item] + ([self.masks[item]] if self.masks is not None else [])
        sources = [open_raster(path) for path in paths]
        try:
            for path, src in zip(paths[1:], sources[1:], strict=True):
                check_coregistered(paths[0], sources[0], path, src)
            height, width = sources[0].height, sources[0].width
            first, last = int(rows[0] * height), int(rows[1] * height)
            tops = [
                first + r for r in window_starts(max(last - first, 1), self.patch_size, self.stride)
            ]
            lefts = window_starts(width, self.patch_size, self.stride)
            windows = [_Window(item, top, left) for top in tops for left in lefts]
            if self.masks is None:
                return windows
            return [w for w in windows if self._labelled(sources[-1], paths[-1], w)]
        finally:
            for src in sources:
                src.close()

    def _labelled(self, src: DatasetReader, path: Path, window: _Window) -> bool:
        """Whether a window holds at least one labelled pixel."""
        return bool((self._labels(src, path, window) != self._ignore).any())

    @property
    def _ignore(self) -> int:
        return -1 if self.ignore_index is None else self.ignore_index

    def _labels(
        self, src, path: Path, window: _Window, invalid: np.ndarray | None = None
    ) -> np.ndarray:
        size = self.patch_size
        raw, valid = read_window(src, [1], Window(window.col, window.row, size, size))
        unlabelled = ~valid if invalid is None else (~valid | invalid)
        return map_labels(raw[0], path, self.mask_values, self.ignore_index, unlabelled)

    def _image(
        self, path: Path, indexes: list[int], window: _Window
    ) -> tuple[np.ndarray, np.ndarray]:
        size = self.patch_size
        with open_raster(path) as src:
            data, valid = read_window(src, indexes, Window(window.col, window.row, size, size))
        mean, std = self.statistics[path]
        data = (data - mean) / std
        data[:, ~valid] = 0.0
        return data, valid

    def _read(self, index: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray | None]:
        """Images of every input of a window, their joint validity, and its labels."""
        window = self.windows[index]
        images, valid = [], None
        for path, indexes in zip(self.inputs[window.item], self.indexes[window.item], strict=True):
            data, inside = self._image(path, indexes, window)
            images.append(data)
            valid = inside if valid is None else valid & inside
        assert valid is not None
        for image in images:
            image[:, ~valid] = 0.0
        labels = None
        if self.masks is not None:
            path = self.masks[window.item]
            with open_raster(path) as src:
                labels = self._labels(src, path, window, ~valid)
        return images, valid, labels

    def __len__(self) -> int:
        """Number of windows."""
        return len(self.windows)

    def _finish(self, sample: dict[str, Tensor]) -> dict[str, Tensor]:
        return self.transforms(sample) if self.transforms is not None else sample


class RasterSegmentationDataset(_RasterWindows):
    """Windows of image rasters with label rasters: ``{"image": (C, S, S), "mask": (S, S)}``."""

    def __init__(
        self,
        images: Sequence[str | os.PathLike[str]],
        masks: Sequence[str | os.PathLike[str]],
        statistics: Statistics,
        patch_size: int = 256,
        stride: int | None = None,
        bands: BandSelection = None,
        band_names: Sequence[str] | None = None,
        mask_values: Mapping[int, int] | None = None,
        ignore_index: int | None = None,
        transforms: Transforms | None = None,
        rows: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        """Initialize a new RasterSegmentationDataset.

        Args:
            images: Image rasters (any GDAL format, any band count).
            masks: One label raster per image, on its grid.
            statistics: ``{image path: (mean, std)}`` of the selected bands.
            patch_size: Window side (px).
            stride: Step between windows (px); default ``patch_size``.
            bands: Bands to read: 1-based numbers or names.
            band_names: Names of all the images' bands, for files without descriptions.
            mask_values: ``{label value: class index}``; ``None``: values are indices.
            ignore_index: Class index of unlabelled pixels (label nodata, unmapped values,
                invalid input).
            transforms: Function applied to each sample.
            rows: Share of the rows to cut windows from, e.g. ``(0.0, 0.8)`` (spatial splits).
        """
        super().__init__(
            [[p] for p in images],
            masks,
            bands,
            band_names,
            statistics,
            patch_size,
            stride,
            mask_values,
            ignore_index,
            transforms,
            rows,
        )

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        """Window ``index``."""
        images, _, labels = self._read(index)
        assert labels is not None
        return self._finish(
            {"image": torch.from_numpy(images[0]), "mask": torch.from_numpy(labels)}
        )


class RasterChangeDetectionDataset(_RasterWindows):
    """Two dates with a change label: ``{"image": (2, C, S, S), "mask": (1, S, S)}``.

    Labels may be sparse: unlabelled pixels (``ignore_index``, label nodata, values
    outside ``mask_values``) count in no loss or metric of
    :class:`~vitp_torchgeo.trainers.ViTPChangeDetectionTask`.
    """

    def __init__(
        self,
        images1: Sequence[str | os.PathLike[str]],
        images2: Sequence[str | os.PathLike[str]],
        masks: Sequence[str | os.PathLike[str]],
        statistics: Statistics,
        patch_size: int = 256,
        stride: int | None = None,
        bands: BandSelection = None,
        band_names: Sequence[str] | None = None,
        mask_values: Mapping[int, int] | None = None,
        ignore_index: int | None = None,
        transforms: Transforms | None = None,
        rows: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        """Initialize a new RasterChangeDetectionDataset.

        Args:
            images1: First-date rasters.
            images2: Second-date rasters, each on the grid of its first date.
            masks: Change label rasters, on the same grid.
            statistics: ``{image path: (mean, std)}`` of the selected bands.
            patch_size: Window side (px).
            stride: Step between windows (px); default ``patch_size``.
            bands: Bands to read from both dates: 1-based numbers or names.
            band_names: Names of all the images' bands, for files without descriptions.
            mask_values: ``{label value: class index}``, e.g. ``{0: 0, 255: 1}``.
            ignore_index: Class index of unlabelled pixels.
            transforms: Function applied to each sample.
            rows: Share of the rows to cut windows from (spatial splits).
        """
        if len(images1) != len(images2):
            raise RasterInputError(
                f"{len(images1)} first-date rasters but {len(images2)} second-date ones."
            )
        super().__init__(
            [[a, b] for a, b in zip(images1, images2, strict=True)],
            masks,
            bands,
            band_names,
            statistics,
            patch_size,
            stride,
            mask_values,
            ignore_index,
            transforms,
            rows,
        )
        counts = {len(i) for item in self.indexes for i in item}
        if len(counts) > 1:
            raise RasterInputError(
                f"The dates select different numbers of bands {sorted(counts)}; use the same bands."
            )

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        """Window ``index``."""
        images, _, labels = self._read(index)
        assert labels is not None
        return self._finish(
            {
                "image": torch.from_numpy(np.stack(images)),
                "mask": torch.from_numpy(labels[None]),
            }
        )


class RasterClassificationDataset(NonGeoDataset):
    """Raster chips with a class each: ``{"image": (C, H, W), "label": ()}``."""

    def __init__(
        self,
        images: Sequence[str | os.PathLike[str]],
        labels: Sequence[int],
        statistics: Statistics,
        bands: BandSelection = None,
        band_names: Sequence[str] | None = None,
        transforms: Transforms | None = None,
    ) -> None:
        """Initialize a new RasterClassificationDataset.

        Args:
            images: Chips (any GDAL raster; read whole).
            labels: Class index of each chip.
            statistics: ``{path: (mean, std)}`` of the selected bands.
            bands: Bands to read: 1-based numbers or names.
            band_names: Names of all the chips' bands, for files without descriptions.
            transforms: Function applied to each sample.
        """
        if len(images) != len(labels):
            raise RasterInputError(f"{len(images)} images but {len(labels)} labels.")
        self.images = [Path(p) for p in images]
        self.labels = [int(v) for v in labels]
        self.bands = bands
        self.band_names = None if band_names is None else list(band_names)
        self.statistics = statistics
        self.transforms = transforms

    def __len__(self) -> int:
        """Number of chips."""
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        """Chip ``index``."""
        path = self.images[index]
        with open_raster(path) as src:
            indexes = resolve_band_indexes(path, src, self.bands, self.band_names)
            data, valid = read_window(src, indexes, Window(0, 0, src.width, src.height))
        mean, std = (np.asarray(v, dtype=np.float32)[:, None, None] for v in self.statistics[path])
        data = (data - mean) / std
        data[:, ~valid] = 0.0
        sample = {
            "image": torch.from_numpy(data),
            "label": torch.tensor(self.labels[index], dtype=torch.long),
        }
        return self.transforms(sample) if self.transforms is not None else sample
