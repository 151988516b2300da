"""Datamodules over plain folders or lists of rasters: multispectral data with no code.

* :class:`RasterSegmentationDataModule`: ``root/images`` + ``root/masks`` (paired by file
  name stem), ``root/{train,val,test}/...``, or lists.
* :class:`RasterChangeDetectionDataModule`: ``root/A`` + ``root/B`` + ``root/label``
  (LEVIR-CD layout), or lists; labels may be sparse (``ignore_index``).
* :class:`RasterClassificationDataModule`: ``root/<class>/*`` or a CSV labels file.

Bands are chosen by 1-based number or by name (``[blue, green, red, nir, swir16,
swir22]``, ``landsat8:B5``...). Normalisation needs no numbers from the user:
``mean: auto`` (the default) computes per-band statistics of the training rasters once
(nodata excluded), ``normalization: per_scene`` normalises each raster by its own; given
``mean``/``std`` lists are used as they are. Whatever was used is recorded in the
checkpoint, and ``vitp predict`` repeats it on a scene. Without validation data (no
``val`` folder, ``val_fraction: 0``) fitting works: the plateau schedule then follows
the training loss.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import kornia.augmentation as K
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torchgeo.datamodules import BaseDataModule

from vitp_torchgeo.datamodules.change_batches import ChangeBatchAugmentation
from vitp_torchgeo.datasets.raster_folders import (
    RasterChangeDetectionDataset,
    RasterClassificationDataset,
    RasterSegmentationDataset,
    Statistics,
    list_rasters,
)
from vitp_torchgeo.datasets.rasters import (
    BandSelection,
    RasterInputError,
    compute_band_statistics,
    open_raster,
    resolve_band_indexes,
)
from vitp_torchgeo.datasets.spec import Normalization, RasterInputSpec

__all__ = [
    "RasterChangeDetectionDataModule",
    "RasterClassificationDataModule",
    "RasterSegmentationDataModule",
]

Stats = Sequence[float] | Literal["auto"] | None
Split = Literal["train", "val", "test"]


def _pair_by_stem(*folders: Path) -> list[list[Path]]:
    """Files present in every folder under the same stem, e.g. ``A/x.tif``, ``label/x.png``."""
    tables = [{p.stem: p for p in list_rasters(folder)} for folder in folders]
    stems = sorted(set(tables[0]).intersection(*tables[1:]))
    missing = sorted(set(tables[0]) - set(stems))
    if missing:
        raise RasterInputError(
            f"{folders[0]}: {missing[:5]} have no file of the same name in "
            f"{[str(f) for f in folders[1:]]}; every image needs its partner(s)."
        )
    if not stems:
        raise RasterInputError(f"No rasters in {folders[0]}.")
    return [[table[stem] for table in tables] for stem in stems]


class _RasterDataModule(BaseDataModule):
    """Band selection, statistics, input spec, splits and empty-split handling."""

    def __init__(
        self,
        batch_size: int,
        num_workers: int,
        patch_size: int,
        bands: BandSelection,
        band_names: Sequence[str] | None,
        mean: Stats,
        std: Stats,
        normalization: Normalization,
        val_fraction: float,
        classes: Sequence[str] | None,
        ignore_index: int | None,
    ) -> None:
        super().__init__(Dataset, batch_size, num_workers)
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction={val_fraction} must be in [0, 1).")
        if (mean == "auto") != (std == "auto") or (mean is None) != (std is None):
            raise ValueError("Give mean and std together (both lists, both 'auto', or neither).")
        self.patch_size = patch_size
        self.bands = None if bands is None else list(bands)
        self.band_names = None if band_names is None else list(band_names)
        self.mean_setting = "auto" if mean is None else mean
        self.std_setting = "auto" if std is None else std
        self.normalization = normalization
        self.val_fraction = val_fraction
        self.classes = None if classes is None else list(classes)
        self.ignore_index = ignore_index
        self.band_mean: list[float] | None = None if self.mean_setting == "auto" else list(mean)
        self.band_std: list[float] | None = None if self.std_setting == "auto" else list(std)
        self._per_file: dict[Path, tuple[list[float], list[float]]] = {}
        self.aug = nn.Identity()

    # --- statistics ---------------------------------------------------------------------

    def statistics(self, train: Sequence[Path], every: Sequence[Path]) -> Statistics:
        """``{path: (mean, std)}`` for ``every`` file, computed from ``train`` when asked."""
        if self.normalization == "per_scene":
            for path in every:
                if path not in self._per_file:
                    stats = compute_band_statistics([path], self.bands, self.band_names)
                    self._per_file[path] = (stats.mean, stats.std)
            return dict(self._per_file)
        if self.band_mean is None:
            stats = compute_band_statistics(list(train), self.bands, self.band_names)
            self.band_mean, self.band_std = stats.mean, stats.std
        assert self.band_std is not None
        return {path: (self.band_mean, self.band_std) for path in every}

    def _band_labels(self, path: Path) -> tuple[list[str] | None, list[int]]:
        """Names (when all known) and 1-based indexes of the selected bands of a file."""
        with open_raster(path) as src:
            indexes = resolve_band_indexes(path, src, self.bands, self.band_names)
            names = self.band_names or list(src.descriptions)
        if self.bands is not None and all(isinstance(b, str) for b in self.bands):
            return [str(b) for b in self.bands], indexes
        chosen = [names[i - 1] for i in indexes]
        return (chosen if all(chosen) else None), indexes

    def input_spec(self) -> RasterInputSpec:
        """Bands, normalisation, window size and classes, for the checkpoint."""
        sample = self._first_image()
        names, indexes = self._band_labels(sample) if sample else (None, None)
        per_scene = self.normalization == "per_scene"
        return RasterInputSpec(
            bands=names,
            band_indexes=indexes,
            mean=None if per_scene else self.band_mean,
            std=None if per_scene else self.band_std,
            normalization=self.normalization,
            patch_size=self.patch_size,
            classes=self.classes,
            ignore_index=self.ignore_index,
        )

    def _first_image(self) -> Path | None:
        raise NotImplementedError

    # --- loaders ------------------------------------------------------------------------

    def _loader(self, split: Split) -> DataLoader[dict[str, Tensor]] | list[Any]:
        """The split's loader; training drops a last partial batch when there are more.

        A last training batch of one window would stop the fit: batch normalisation of
        the decoder's pooled (1x1) features needs two values per channel.
        """
        dataset = getattr(self, f"{split}_dataset")
        if dataset is None:
            return []
        train = split == "train"
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=train,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            drop_last=train and len(dataset) > self.batch_size,
        )

    def train_dataloader(self) -> DataLoader[dict[str, Tensor]]:
        """Training windows, shuffled."""
        if self.train_dataset is None:
            raise RasterInputError(f"{type(self).__name__}: no training data.")
        loader = self._loader("train")
        assert isinstance(loader, DataLoader)
        return loader

    def val_dataloader(self) -> DataLoader[dict[str, Tensor]] | list[Any]:
        """Validation windows, or ``[]`` (no validation) when there are none."""
        return self._loader("val")

    def test_dataloader(self) -> DataLoader[dict[str, Tensor]] | list[Any]:
        """Test windows, or ``[]`` when there are none."""
        return self._loader("test")


def _transpose(lists: Sequence[Sequence[str]] | None) -> list[list[Path]] | None:
    """``[images, masks]`` lists -> ``[[image, mask], ...]`` items (equal lengths)."""
    if lists is None:
        return None
    lengths = {len(files) for files in lists}
    if len(lengths) > 1:
        raise RasterInputError(f"File lists of different lengths {[len(f) for f in lists]}.")
    return [[Path(p) for p in item] for item in zip(*lists, strict=True)]


def _files_split(
    items: list[list[Path]], fraction: float
) -> tuple[list[list[Path]], list[list[Path]]]:
    """The last ``ceil(len * fraction)`` items validate (none when ``fraction`` is 0)."""
    count = math.ceil(len(items) * fraction) if fraction > 0 else 0
    return items[: len(items) - count], items[len(items) - count :]


class _WindowedDataModule(_RasterDataModule):
    """Segmentation and change detection: windows of co-registered rasters and labels."""

    #: Names of the sub-folders of one split, in dataset argument order.
    folders: tuple[str, ...] = ()

    def __init__(
        self,
        root: str | None,
        items: Sequence[Sequence[str]] | None,
        val_items: Sequence[Sequence[str]] | None,
        stride: int | None,
        mask_values: Mapping[int, int] | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.root = None if root is None else Path(root).expanduser()
        self.items = _transpose(items)
        self.val_items = _transpose(val_items)
        self.stride = stride
        self.mask_values = None if mask_values is None else dict(mask_values)
        self._splits: dict[str, list[list[Path]]] | None = None

    def _discover(self) -> dict[str, list[list[Path]]]:
        """Files of each split: given lists, ``root/<split>/<folders>``, or ``root/<folders>``."""
        if self._splits is not None:
            return self._splits
        if self.items is not None:
            splits = {"train": self.items}
            if self.val_items is not None:
                splits["val"] = self.val_items
        elif self.root is None:
            raise RasterInputError(f"{type(self).__name__}: give root or the file lists.")
        elif (self.root / "train").is_dir():
            splits = {
                split: _pair_by_stem(*(self.root / split / f for f in self.folders))
                for split in ("train", "val", "test")
                if (self.root / split).is_dir()
            }
        else:
            splits = {"train": _pair_by_stem(*(self.root / f for f in self.folders))}
        self._splits = splits
        return splits

    def _first_image(self) -> Path | None:
        return self._discover()["train"][0][0]

    def _make(self, items: list[list[Path]], rows: tuple[float, float], stats: Statistics) -> Any:
        raise NotImplementedError

    def setup(self, stage: str) -> None:
        """Build the split datasets (statistics of the training rasters first)."""
        splits = self._discover()
        train, val, rows = splits["train"], splits.get("val"), None
        if val is None and self.val_fraction > 0:
            if len(train) > 1:
                train, val = _files_split(train, self.val_fraction)
            else:  # one scene: its last rows validate
                rows = 1.0 - self.val_fraction
                val = train
        images = sorted({p for items in splits.values() for item in items for p in item[:-1]})
        train_images = [p for item in train for p in item[:-1]]
        stats = self.statistics(train_images, images)
        self.train_dataset = self._make(train, (0.0, rows or 1.0), stats)
        self.val_dataset = None if not val else self._make(val, (rows or 0.0, 1.0), stats)
        test = splits.get("test")
        self.test_dataset = None if not test else self._make(test, (0.0, 1.0), stats)


class RasterSegmentationDataModule(_WindowedDataModule):
    """Segmentation from image rasters and label rasters of any size and band count."""

    folders = ("images", "masks")

    def __init__(
        self,
        root: str | None = None,
        images: Sequence[str] | None = None,
        masks: Sequence[str] | None = None,
        val_images: Sequence[str] | None = None,
        val_masks: Sequence[str] | None = None,
        bands: Sequence[int | str] | None = None,
        band_names: Sequence[str] | None = None,
        mean: Sequence[float] | Literal["auto"] | None = "auto",
        std: Sequence[float] | Literal["auto"] | None = "auto",
        normalization: Normalization = "fixed",
        patch_size: int = 256,
        stride: int | None = None,
        mask_values: Mapping[int, int] | None = None,
        ignore_index: int | None = None,
        classes: Sequence[str] | None = None,
        val_fraction: float = 0.0,
        batch_size: int = 8,
        num_workers: int = 0,
    ) -> None:
        """Initialize a new RasterSegmentationDataModule.

        Args:
            root: Folder with ``images/`` and ``masks/`` (same file stems), or with
                ``train/``, ``val/``, ``test/`` each holding them.
            images: Image rasters (instead of ``root``).
            masks: Their label rasters.
            val_images: Validation image rasters.
            val_masks: Their label rasters.
            bands: Bands to read: 1-based numbers or names; default all.
            band_names: Names of all the files' bands, for files without descriptions.
            mean: Per-band mean, or ``auto`` (computed on the training rasters).
            std: Per-band standard deviation, or ``auto``.
            normalization: ``fixed`` (mean/std) or ``per_scene`` (each raster its own).
            patch_size: Window side (px), a multiple of the model's patch size.
            stride: Step between training windows (px); default ``patch_size``.
            mask_values: ``{label value: class index}``; default: values are indices.
            ignore_index: Class index of unlabelled pixels.
            classes: Class names (recorded for prediction outputs).
            val_fraction: Without a val split: share of files (or, with one scene, of its
                rows) held out for validation; 0 fits without validation.
            batch_size: Windows per batch.
            num_workers: DataLoader workers.
        """
        lists = None if images is None else [images, masks or []]
        val_lists = None if val_images is None else [val_images, val_masks or []]
        super().__init__(
            root,
            lists,
            val_lists,
            stride,
            mask_values,
            batch_size=batch_size,
            num_workers=num_workers,
            patch_size=patch_size,
            bands=bands,
            band_names=band_names,
            mean=mean,
            std=std,
            normalization=normalization,
            val_fraction=val_fraction,
            classes=classes,
            ignore_index=ignore_index,
        )
        self.train_aug = K.AugmentationSequential(
            K.RandomHorizontalFlip(), K.RandomVerticalFlip(), data_keys=None, keepdim=True
        )

    def _make(self, items: list[list[Path]], rows: tuple[float, float], stats: Statistics) -> Any:
        return RasterSegmentationDataset(
            [i[0] for i in items],
            [i[1] for i in items],
            stats,
            self.patch_size,
            self.stride,
            self.bands,
            self.band_names,
            self.mask_values,
            self.ignore_index,
            rows=rows,
        )


class RasterChangeDetectionDataModule(ChangeBatchAugmentation, _WindowedDataModule):
    """Change detection from raster pairs of two dates and a (possibly sparse) label raster."""

    folders = ("A", "B", "label")

    def __init__(
        self,
        root: str | None = None,
        images1: Sequence[str] | None = None,
        images2: Sequence[str] | None = None,
        masks: Sequence[str] | None = None,
        val_images1: Sequence[str] | None = None,
        val_images2: Sequence[str] | None = None,
        val_masks: Sequence[str] | None = None,
        bands: Sequence[int | str] | None = None,
        band_names: Sequence[str] | None = None,
        mean: Sequence[float] | Literal["auto"] | None = "auto",
        std: Sequence[float] | Literal["auto"] | None = "auto",
        normalization: Normalization = "fixed",
        patch_size: int = 256,
        stride: int | None = None,
        mask_values: Mapping[int, int] | None = None,
        ignore_index: int | None = None,
        classes: Sequence[str] | None = ("no change", "change"),
        val_fraction: float = 0.0,
        batch_size: int = 8,
        num_workers: int = 0,
    ) -> None:
        """Initialize a new RasterChangeDetectionDataModule.

        Args:
            root: Folder with ``A/``, ``B/`` and ``label/`` (same file stems), or with
                ``train/``, ``val/``, ``test/`` each holding them.
            images1: First-date rasters (instead of ``root``).
            images2: Second-date rasters, each on its first date's grid.
            masks: Change label rasters on the same grid.
            val_images1: Validation first dates.
            val_images2: Validation second dates.
            val_masks: Validation labels.
            bands: Bands to read from both dates: 1-based numbers or names.
            band_names: Names of all the files' bands, for files without descriptions.
            mean: Per-band mean, or ``auto`` (computed on the training rasters).
            std: Per-band standard deviation, or ``auto``.
            normalization: ``fixed`` or ``per_scene`` (each date its own statistics).
            patch_size: Window side (px).
            stride: Step between training windows (px); default ``patch_size``.
            mask_values: ``{label value: class}``, e.g. ``{0: 0, 255: 1}`` for LEVIR-CD
                masks or ``{1: 0, 2: 1}`` for unchanged=1/changed=2/unlabelled=0 labels.
            ignore_index: Class index of unlabelled pixels (sparse labels), e.g. 255.
            classes: Class names.
            val_fraction: Without a val split: share of pairs (or, with one pair, of its
                rows) held out for validation; 0 fits without validation.
            batch_size: Windows per batch.
            num_workers: DataLoader workers.
        """
        lists = None if images1 is None else [images1, images2 or [], masks or []]
        val_lists = (
            None if val_images1 is None else [val_images1, val_images2 or [], val_masks or []]
        )
        super().__init__(
            root,
            lists,
            val_lists,
            stride,
            mask_values,
            batch_size=batch_size,
            num_workers=num_workers,
            patch_size=patch_size,
            bands=bands,
            band_names=band_names,
            mean=mean,
            std=std,
            normalization=normalization,
            val_fraction=val_fraction,
            classes=classes,
            ignore_index=ignore_index,
        )
        self.train_aug = K.AugmentationSequential(
            K.VideoSequential(K.RandomHorizontalFlip(), K.RandomVerticalFlip()),
            data_keys=None,
            keepdim=True,
        )

    def _make(self, items: list[list[Path]], rows: tuple[float, float], stats: Statistics) -> Any:
        return RasterChangeDetectionDataset(
            [i[0] for i in items],
            [i[1] for i in items],
            [i[2] for i in items],
            stats,
            self.patch_size,
            self.stride,
            self.bands,
            self.band_names,
            self.mask_values,
            self.ignore_index,
            rows=rows,
        )


class RasterClassificationDataModule(_RasterDataModule):
    """Classification of raster chips from class folders or a CSV labels file."""

    def __init__(
        self,
        root: str,
        labels_file: str | None = None,
        classes: Sequence[str] | None = None,
        bands: Sequence[int | str] | None = None,
        band_names: Sequence[str] | None = None,
        mean: Sequence[float] | Literal["auto"] | None = "auto",
        std: Sequence[float] | Literal["auto"] | None = "auto",
        normalization: Normalization = "fixed",
        image_size: int | None = None,
        val_fraction: float = 0.2,
        batch_size: int = 32,
        num_workers: int = 0,
    ) -> None:
        """Initialize a new RasterClassificationDataModule.

        Args:
            root: Folder with one sub-folder of chips per class, or the folder that the
                labels file's paths are relative to.
            labels_file: CSV with columns ``image``, ``label`` and optionally ``split``
                (``train``/``val``/``test``); relative to ``root`` unless absolute.
            classes: Class names in index order; default the sorted folder / label names.
            bands: Bands to read: 1-based numbers or names.
            band_names: Names of all the chips' bands, for files without descriptions.
            mean: Per-band mean, or ``auto``.
            std: Per-band standard deviation, or ``auto``.
            normalization: ``fixed`` or ``per_scene`` (each chip its own statistics).
            image_size: Resize chips to this side (px); default the first chip's size.
            val_fraction: Without a ``split`` column: every ``1/val_fraction``-th chip of
                each class validates; 0 fits without validation.
            batch_size: Chips per batch.
            num_workers: DataLoader workers.
        """
        self.root = Path(root).expanduser()
        self.labels_file = labels_file
        records = self._records(classes)
        super().__init__(
            batch_size=batch_size,
            num_workers=num_workers,
            patch_size=image_size or self._chip_size(records),
            bands=bands,
            band_names=band_names,
            mean=mean,
            std=std,
            normalization=normalization,
            val_fraction=val_fraction,
            classes=self.class_names,
            ignore_index=None,
        )
        self.records = records
        resize = [K.Resize((image_size, image_size))] if image_size else []
        self.aug = K.AugmentationSequential(*resize, data_keys=None, keepdim=True)
        self.train_aug = K.AugmentationSequential(
            *resize, K.RandomHorizontalFlip(), K.RandomVerticalFlip(), data_keys=None, keepdim=True
        )

    def _records(self, classes: Sequence[str] | None) -> list[tuple[Path, str, str | None]]:
        """``(path, class name, split or None)`` for every chip."""
        if self.labels_file is None:
            folders = (
                sorted(p for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []
            )
            records = [(f, folder.name, None) for folder in folders for f in list_rasters(folder)]
        else:
            path = Path(self.labels_file)
            path = path if path.is_absolute() else self.root / path
            with open(path, newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            for number, row in enumerate(rows, 2):
                if not row.get("image") or not row.get("label"):
                    raise RasterInputError(f"{path}:{number}: needs 'image' and 'label' columns.")
            records = [(self.root / r["image"], r["label"], r.get("split") or None) for r in rows]
        if not records:
            raise RasterInputError(f"No chips under {self.root} (class folders or labels_file).")
        names = sorted({name for _, name, _ in records})
        self.class_names = list(classes) if classes is not None else names
        unknown = sorted(set(names) - set(self.class_names))
        if unknown:
            raise RasterInputError(f"Labels {unknown} are not in classes={self.class_names}.")
        return records

    @staticmethod
    def _chip_size(records: list[tuple[Path, str, str | None]]) -> int:
        with open_raster(records[0][0]) as src:
            return int(max(src.height, src.width))

    def _first_image(self) -> Path | None:
        return self.records[0][0]

    def setup(self, stage: str) -> None:
        """Build train/val/test chip datasets."""
        splits: dict[str, list[tuple[Path, int]]] = {"train": [], "val": [], "test": []}
        seen: dict[str, int] = {}
        every = round(1 / self.val_fraction) if self.val_fraction > 0 else 0
        for path, name, split in self.records:
            if split is None:
                seen[name] = seen.get(name, 0) + 1
                split = "val" if every and seen[name] % every == 0 else "train"
            splits[split].append((path, self.class_names.index(name)))
        train = [p for p, _ in splits["train"]]
        stats = self.statistics(train, [p for p, _, _ in self.records])
        for split, chips in splits.items():
            dataset = None
            if chips:
                dataset = RasterClassificationDataset(
                    [p for p, _ in chips], [c for _, c in chips], stats, self.bands, self.band_names
                )
            setattr(self, f"{split}_dataset", dataset)
