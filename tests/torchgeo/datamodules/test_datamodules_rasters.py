"""Raster-folder datamodules: bands by name, statistics from the data, sparse labels, splits."""

from pathlib import Path

import numpy as np
import pytest
import torch
from vitp_torchgeo_helpers import BANDS, write_change_folder, write_raster

from vitp_torchgeo.datamodules import (
    RasterChangeDetectionDataModule,
    RasterClassificationDataModule,
    RasterSegmentationDataModule,
)
from vitp_torchgeo.datasets.rasters import MisregisteredPairError, RasterInputError


def test_change_datamodule_sparse_labels_bands_and_auto_statistics(tmp_path: Path) -> None:
    root = write_change_folder(tmp_path / "pair")
    dm = RasterChangeDetectionDataModule(
        root=str(root), bands=["red", "nir"], patch_size=16, ignore_index=255, batch_size=2
    )
    dm.setup("fit")
    assert dm.val_dataset is None and dm.val_dataloader() == []
    assert len(dm.train_dataset) == 2  # windows without a labelled pixel are left out
    sample = dm.train_dataset[0]
    assert sample["image"].shape == (2, 2, 16, 16) and sample["mask"].shape == (1, 16, 16)
    assert set(sample["mask"].unique().tolist()) == {0, 1}
    spec = dm.input_spec()
    assert spec.bands == ["red", "nir"] and spec.band_indexes == [3, 4]
    assert spec.patch_size == 16 and spec.ignore_index == 255
    first = torch.from_numpy(
        np.stack(
            [
                np.asarray(dm.train_dataset._image(p, [3, 4], dm.train_dataset.windows[0])[0])
                for p in [root / "A" / "scene.tif"]
            ]
        )
    )
    assert first.abs().mean() < 3  # normalised with statistics computed from the data


def test_one_scene_validates_on_its_last_rows(tmp_path: Path) -> None:
    root = write_change_folder(tmp_path / "pair")
    dm = RasterChangeDetectionDataModule(
        root=str(root), patch_size=8, ignore_index=255, val_fraction=0.5, mean=[0] * 4, std=[1] * 4
    )
    dm.setup("fit")
    train_rows = {w.row for w in dm.train_dataset.windows}
    val_rows = {w.row for w in dm.val_dataset.windows}
    assert max(train_rows) + 8 <= min(val_rows)


def test_misregistered_label_is_refused(tmp_path: Path) -> None:
    root = write_change_folder(tmp_path / "pair")
    write_raster(root / "label" / "scene.tif", np.zeros((30, 32), dtype=np.uint8))
    dm = RasterChangeDetectionDataModule(root=str(root), patch_size=16, mean=[0] * 4, std=[1] * 4)
    with pytest.raises(MisregisteredPairError, match="size 32x32 vs 32x30 px"):
        dm.setup("fit")


def test_segmentation_mask_values_and_unmapped_values(tmp_path: Path) -> None:
    image = np.ones((3, 16, 16), dtype=np.uint8)
    mask = np.zeros((16, 16), dtype=np.uint8)
    mask[4:8] = 255
    mask[8:] = 7  # not a class
    write_raster(tmp_path / "images" / "a.tif", image)
    identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    write_raster(tmp_path / "masks" / "a.png", mask, driver="PNG", crs=None, transform=identity)
    common = {"root": str(tmp_path), "patch_size": 16, "mean": [0] * 3, "std": [1] * 3}
    with pytest.raises(RasterInputError, match=r"a\.png: pixels with values \[7\]"):
        RasterSegmentationDataModule(**common, mask_values={0: 0, 255: 1}).setup("fit")


def test_segmentation_pairs_by_stem_with_ignore(tmp_path: Path) -> None:
    mask = np.zeros((16, 16), dtype=np.uint8)
    mask[8:] = 7
    write_raster(tmp_path / "images" / "a.tif", np.ones((3, 16, 16), dtype=np.uint8))
    write_raster(tmp_path / "masks" / "a.tif", mask)
    dm = RasterSegmentationDataModule(
        root=str(tmp_path), patch_size=16, mask_values={0: 0}, ignore_index=9,
        mean=[0] * 3, std=[1] * 3,
    )  # fmt: skip
    dm.setup("fit")
    assert set(dm.train_dataset[0]["mask"].unique().tolist()) == {0, 9}


def test_classification_from_class_folders(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("crop", "forest"):
        for i in range(5):
            chip = rng.integers(0, 255, (4, 16, 16)).astype(np.uint8)
            write_raster(tmp_path / name / f"{i}.tif", chip, descriptions=BANDS)
    dm = RasterClassificationDataModule(root=str(tmp_path), bands=["nir", "red"], val_fraction=0.2)
    dm.setup("fit")
    assert dm.class_names == ["crop", "forest"]
    assert len(dm.train_dataset) == 8 and len(dm.val_dataset) == 2
    sample = dm.train_dataset[0]
    assert sample["image"].shape == (2, 16, 16) and int(sample["label"]) == 0
    assert dm.input_spec().patch_size == 16 and dm.input_spec().classes == ["crop", "forest"]
