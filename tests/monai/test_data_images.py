"""Image-folder datalists and transforms of the 2D bundles."""

from pathlib import Path

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from vitp_monai.data import (
    ApplyFieldOfViewd,
    EnsureChannelsd,
    ToLabelIndicesd,
    image_class_datalist,
    image_datalist,
    image_mask_datalist,
)


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_masks_beside_images_busi_layout(tmp_path: Path) -> None:
    for i in (1, 2, 3):
        touch(tmp_path / "benign" / f"benign ({i}).png")
        touch(tmp_path / "benign" / f"benign ({i})_mask.png")
    records = image_mask_datalist(
        tmp_path, "all", image_dir="benign", mask_dir="benign", mask_suffix="_mask"
    )
    assert [Path(r["image"]).name for r in records] == [f"benign ({i}).png" for i in (1, 2, 3)]
    assert Path(records[0]["label"]).name == "benign (1)_mask.png"
    assert len(image_mask_datalist(tmp_path, "val", 0.34, image_dir="benign", mask_dir="benign",
                                   mask_suffix="_mask")) == 1  # fmt: skip


def test_drive_layout_and_missing_mask_is_named(tmp_path: Path) -> None:
    touch(tmp_path / "images" / "21_training.tif")
    touch(tmp_path / "1st_manual" / "21_manual1.gif")
    touch(tmp_path / "mask" / "21_training_mask.gif")
    kwargs = {"mask_dir": "1st_manual", "fov_dir": "mask", "image_suffix": "_training",
              "mask_suffix": "_manual1", "fov_suffix": "_training_mask"}  # fmt: skip
    (record,) = image_mask_datalist(tmp_path, "all", **kwargs)
    assert record["fov"].endswith("21_training_mask.gif")
    touch(tmp_path / "images" / "22_training.tif")
    with pytest.raises(FileNotFoundError, match=r"22_training\.tif has no mask named 22_manual1"):
        image_mask_datalist(tmp_path, "all", **kwargs)


def test_flat_folder_of_volumes(tmp_path: Path) -> None:
    touch(tmp_path / "a.nii.gz")
    touch(tmp_path / "b.nii")
    touch(tmp_path / "notes.txt")
    assert [Path(r["image"]).name for r in image_datalist(tmp_path)] == ["a.nii.gz", "b.nii"]


def test_class_folders_and_labels_file(tmp_path: Path) -> None:
    for name in ("normal", "pneumonia"):
        for i in range(5):
            touch(tmp_path / name / f"{i}.png")
    train = image_class_datalist(tmp_path, "train", 0.2)
    val = image_class_datalist(tmp_path, "val", 0.2)
    assert len(train) == 8 and len(val) == 2 and {r["label"] for r in val} == {0, 1}
    (tmp_path / "labels.csv").write_text("image,label\nnormal/0.png,normal\nnormal/1.png,cat\n")
    with pytest.raises(ValueError, match=r"Labels \['cat'\]"):
        image_class_datalist(
            tmp_path, "all", labels_file="labels.csv", class_names=["normal", "pneumonia"]
        )


def test_channels_labels_and_field_of_view() -> None:
    rgba = MetaTensor(torch.rand(4, 5, 6), meta={"filename_or_obj": "x.png"})
    assert EnsureChannelsd("image", 3)({"image": rgba})["image"].shape == (3, 5, 6)
    assert EnsureChannelsd("image", 1)({"image": rgba})["image"].shape == (1, 5, 6)
    mask = MetaTensor(
        torch.tensor([[[0.0, 255.0], [255.0, 0.0]]]), meta={"filename_or_obj": "m.gif"}
    )
    labels = ToLabelIndicesd("label", num_classes=2)({"label": mask})["label"]
    assert labels.tolist() == [[[0, 1], [1, 0]]]
    with pytest.raises(ValueError, match=r"m\.gif: mask values \[255\]"):
        ToLabelIndicesd("label", num_classes=3)({"label": mask})
    fov = torch.tensor([[[1, 0], [1, 1]]])
    pred = torch.ones(1, 2, 2)
    masked = ApplyFieldOfViewd("pred")({"pred": pred, "fov": fov})["pred"]
    np.testing.assert_array_equal(masked.numpy(), [[[1, 0], [1, 1]]])
