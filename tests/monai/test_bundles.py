"""Bundles: templates pass MONAI's checks and run end to end on tiny seeded data."""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from monai.bundle import run, verify_metadata
from vitp_monai_helpers import TINY, write_medmnist, write_nifti_dataset

from vitp_core.export import BackboneChecksumError
from vitp_monai.bundles import (
    BUNDLE_TASKS,
    METADATA_SCHEMA_PATH,
    TEMPLATES_DIR,
    init_bundle,
    verify_bundle,
)


@pytest.mark.parametrize("task", BUNDLE_TASKS)
def test_template_metadata_passes_verify_metadata(task: str) -> None:
    meta = TEMPLATES_DIR / task / "configs" / "metadata.json"
    assert json.loads(meta.read_text())["schema"].startswith("https://github.com/Project-MONAI/")
    verify_metadata(meta_file=str(meta), filepath=str(METADATA_SCHEMA_PATH))


def test_verify_metadata_cli_uses_local_schema_and_rejects_bad_metadata(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fire = pytest.importorskip("fire", reason="`python -m monai.bundle` needs fire (vitp[monai])")
    meta = TEMPLATES_DIR / "segmentation" / "configs" / "metadata.json"
    # what `python -m monai.bundle verify_metadata --meta_file ... --filepath ...` runs
    argv = ["verify_metadata", "--meta_file", str(meta), "--filepath", str(METADATA_SCHEMA_PATH)]
    with caplog.at_level("INFO"):
        fire.Fire({"verify_metadata": verify_metadata}, command=argv)
    assert "skipped downloading" in caplog.text
    assert "metadata is verified with no error" in caplog.text
    bad = json.loads(meta.read_text())
    del bad["network_data_format"]["inputs"]["image"]["dtype"]
    bad_file = tmp_path / "metadata.json"
    bad_file.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="dtype"):
        verify_metadata(meta_file=str(bad_file), filepath=str(METADATA_SCHEMA_PATH))


def test_init_bundle_from_export(tiny_export: Path, tmp_path: Path) -> None:
    bundle = init_bundle(
        tmp_path / "b",
        weights=tiny_export,
        roi_size=[16, 16],
        num_classes=2,
        class_names=["bg", "fg"],
    )
    train = json.loads((bundle / "configs" / "train.json").read_text())
    inference = json.loads((bundle / "configs" / "inference.json").read_text())
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    assert (bundle / "models" / "backbone.safetensors").is_file()
    assert (bundle / "models" / "backbone.json").is_file()
    assert train["backbone_kwargs"] == TINY and inference["backbone_kwargs"] == TINY
    assert "models', 'backbone.safetensors'" in train["pretrained"]
    assert "pretrained" not in inference
    assert train["axcodes"] == "RA" and train["pixdim"] == [1.0, 1.0]
    assert meta["network_data_format"]["inputs"]["image"]["spatial_shape"] == ["16*n", "16*n"]
    assert meta["network_data_format"]["outputs"]["pred"]["channel_def"] == {"0": "bg", "1": "fg"}
    assert meta["vitp_backbone"]["model"] == "vitp_tiny_patch16_224"
    assert "$backbone" not in (bundle / "docs" / "README.md").read_text()
    with pytest.raises(FileExistsError, match="--force"):
        init_bundle(bundle)


def test_init_bundle_refuses_corrupt_export(tiny_export: Path, tmp_path: Path) -> None:
    with open(tiny_export, "r+b") as handle:
        handle.seek(-4, 2)
        handle.write(b"\0\0\0\0")
    with pytest.raises(BackboneChecksumError):
        init_bundle(tmp_path / "b", weights=tiny_export)


def needs_ignite() -> None:
    pytest.importorskip("ignite", reason="MONAI bundle engines need pytorch-ignite (vitp[monai])")


def test_segmentation_bundle_trains_evaluates_and_predicts_a_folder_of_volumes(
    tiny_export: Path, tmp_path: Path
) -> None:
    needs_ignite()
    data = write_nifti_dataset(tmp_path / "data", num_cases=4, shape=(19, 23, 17))
    bundle = init_bundle(tmp_path / "seg", weights=tiny_export, roi_size=[16, 16, 16])
    configs = bundle / "configs"
    common = {"bundle_root": str(bundle), "feature_size": 4}
    assert verify_bundle(bundle, dataset_dir=data) == []
    run(
        config_file=str(configs / "train.json"),
        meta_file=str(configs / "metadata.json"),
        dataset_dir=str(data),
        max_epochs=1,
        val_fraction=0.25,
        batch_size=1,
        num_samples=1,
        **common,
    )
    assert (bundle / "models" / "model.pt").is_file()
    run(
        config_file=str(configs / "evaluate.json"),
        meta_file=str(configs / "metadata.json"),
        dataset_dir=str(data),
        val_fraction=0.25,
        **common,
    )
    assert [p.name for p in (bundle / "eval").glob("*_seg.nii.gz")] == ["case_003_seg.nii.gz"]
    assert (bundle / "eval" / "mean_dice_summary.csv").read_text().startswith("class,mean")
    # Inference: a plain folder of volumes, no labels, oblique and anisotropic affines.
    volumes = write_unlabelled_volumes(tmp_path / "volumes")
    run(
        config_file=str(configs / "inference.json"),
        meta_file=str(configs / "metadata.json"),
        dataset_dir=str(volumes),
        **common,
    )
    for source in sorted(volumes.glob("*.nii.gz")):
        prediction = bundle / "predictions" / source.name.replace(".nii.gz", "_seg.nii.gz")
        image, seg = nib.load(source), nib.load(prediction)
        assert seg.shape == image.shape
        np.testing.assert_allclose(seg.affine, image.affine, atol=1e-4)
        assert set(np.unique(np.asarray(seg.dataobj))) <= {0, 1, 2}


def write_unlabelled_volumes(folder: Path) -> Path:
    """Two volumes with non-trivial affines (spacing, flip, rotation, origin) and no labels."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    angle = np.deg2rad(20)
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    for index, spacing in enumerate(([1.5, 0.8, 2.0], [-1.0, 1.2, 1.0])):
        affine = np.eye(4)
        affine[:3, :3] = rotation @ np.diag(spacing)
        affine[:3, 3] = [-40.0 + index, 12.5, 7.0]
        image = rng.normal(100.0, 20.0, (18 + index, 21, 15)).astype(np.float32)
        nib.save(nib.Nifti1Image(image, affine), folder / f"scan_{index}.nii.gz")
    return folder


@pytest.mark.parametrize(
    ("spatial", "roi", "patch"), [((28, 28), [32, 32], 16), ((28, 28, 28), [16, 16, 16], 8)]
)
def test_classification_bundle_trains_and_infers(
    tmp_path: Path, spatial: tuple, roi: list, patch: int, capsys: pytest.CaptureFixture
) -> None:
    needs_ignite()
    data = write_medmnist(tmp_path / "data" / "pneumoniamnist.npz", spatial=spatial, n=8)
    bundle = init_bundle(
        tmp_path / "cls",
        task="classification",
        roi_size=roi,
        patch_size=patch,
        backbone_kwargs=TINY,
    )
    configs = bundle / "configs"
    common = {
        "bundle_root": str(bundle),
        "dataset_dir": str(data.parent),
        "dataset_file": data.name,
        "batch_size": 4,
    }
    assert verify_bundle(bundle, dataset_dir=data.parent) == []
    problems = verify_bundle(bundle, dataset_dir=tmp_path, check_network=False)
    assert problems and all("MedMNIST file" in p for p in problems)
    run(
        config_file=str(configs / "train.json"),
        meta_file=str(configs / "metadata.json"),
        max_epochs=1,
        **common,
    )
    run(
        config_file=str(configs / "inference.json"),
        meta_file=str(configs / "metadata.json"),
        **common,
    )
    assert "test split, 8 items: AUC" in capsys.readouterr().out


def write_fundus_folder(root: Path, count: int = 4, size: tuple[int, int] = (56, 40)) -> Path:
    """DRIVE-like layout: RGB images, GIF vessel masks and asymmetric field-of-view masks."""
    from PIL import Image

    rng = np.random.default_rng(0)
    width, height = size
    for name in ("images", "1st_manual", "mask"):
        (root / name).mkdir(parents=True, exist_ok=True)
    for index in range(count):
        key = f"{21 + index}"
        rgb = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        vessels = np.zeros((height, width), dtype=np.uint8)
        vessels[:, 10 + index : 14 + index] = 255
        rgb[vessels > 0] = [200, 30, 30]
        fov = np.zeros((height, width), dtype=np.uint8)
        fov[: height - 8, 6:] = 255  # asymmetric: a transposed output would not fit it
        Image.fromarray(rgb).save(root / "images" / f"{key}_training.png")
        Image.fromarray(vessels).save(root / "1st_manual" / f"{key}_manual1.gif")
        Image.fromarray(fov).save(root / "mask" / f"{key}_training_mask.gif")
    return root


def test_segmentation2d_bundle_on_image_folders_with_fields_of_view(tmp_path: Path) -> None:
    from PIL import Image

    needs_ignite()
    data = write_fundus_folder(tmp_path / "drive")
    bundle = init_bundle(
        tmp_path / "fundus", task="segmentation2d", roi_size=[32, 32], backbone_kwargs=TINY
    )
    configs = bundle / "configs"
    layout = {
        "bundle_root": str(bundle), "dataset_dir": str(data), "feature_size": 4,
        "mask_dir": "1st_manual", "fov_dir": "mask", "image_suffix": "_training",
        "mask_suffix": "_manual1", "fov_suffix": "_training_mask", "val_fraction": 0.25,
    }  # fmt: skip
    assert verify_bundle(bundle) == []
    run(
        config_file=str(configs / "train.json"),
        meta_file=str(configs / "metadata.json"),
        max_epochs=1,
        batch_size=2,
        num_samples=1,
        **layout,
    )
    assert (bundle / "models" / "model.pt").is_file()
    run(
        config_file=str(configs / "evaluate.json"),
        meta_file=str(configs / "metadata.json"),
        **layout,
    )
    assert (bundle / "eval" / "mean_dice_summary.csv").is_file()
    run(
        config_file=str(configs / "inference.json"),
        meta_file=str(configs / "metadata.json"),
        **layout,
    )
    predictions = sorted((bundle / "predictions").glob("*_seg.png"))
    assert [p.name for p in predictions][:1] == ["21_training_seg.png"] and len(predictions) == 4
    with Image.open(predictions[0]) as png:
        mask = np.asarray(png)
    assert mask.shape == (40, 56) and set(np.unique(mask)) <= {0, 255}
    assert (mask[32:, :] == 0).all() and (mask[:, :6] == 0).all()  # outside the field of view


def test_classification2d_bundle_on_class_folders(tmp_path: Path) -> None:
    from PIL import Image

    needs_ignite()
    rng = np.random.default_rng(0)
    for name in ("benign", "malignant"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for index in range(5):
            grey = rng.integers(0, 255, (30, 36), dtype=np.uint8)
            Image.fromarray(grey).save(tmp_path / "data" / name / f"{name}_{index}.png")
    bundle = init_bundle(
        tmp_path / "cls", task="classification2d", roi_size=[32, 32], in_channels=1,
        backbone_kwargs=TINY, class_names=["benign", "malignant"],
    )  # fmt: skip
    configs = bundle / "configs"
    common = {"bundle_root": str(bundle), "batch_size": 4}
    run(
        config_file=str(configs / "train.json"),
        meta_file=str(configs / "metadata.json"),
        dataset_dir=str(tmp_path / "data"),
        max_epochs=1,
        **common,
    )
    run(
        config_file=str(configs / "inference.json"),
        meta_file=str(configs / "metadata.json"),
        dataset_dir=str(tmp_path / "data" / "malignant"),
        **common,
    )
    rows = (bundle / "predictions" / "classes.csv").read_text().strip().splitlines()
    assert len(rows) == 5 and rows[0].split(",")[0].endswith("malignant_0.png")
    probabilities = (bundle / "predictions" / "probabilities.csv").read_text().splitlines()
    assert len(probabilities[0].split(",")) == 3  # file, p(benign), p(malignant)
