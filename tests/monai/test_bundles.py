"""Bundles: templates pass MONAI's checks and run end to end on tiny seeded data."""

import json
from pathlib import Path

import nibabel as nib
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


def test_segmentation_bundle_trains_and_infers_on_random_nifti(
    tiny_export: Path, tmp_path: Path
) -> None:
    needs_ignite()
    data = write_nifti_dataset(tmp_path / "data", num_cases=4, shape=(19, 23, 17))
    bundle = init_bundle(tmp_path / "seg", weights=tiny_export, roi_size=[16, 16, 16])
    configs = bundle / "configs"
    common = {"bundle_root": str(bundle), "dataset_dir": str(data), "feature_size": 4}
    assert verify_bundle(bundle, dataset_dir=data) == []
    run(
        config_file=str(configs / "train.json"),
        meta_file=str(configs / "metadata.json"),
        max_epochs=1,
        val_fraction=0.25,
        batch_size=1,
        num_samples=1,
        **common,
    )
    assert (bundle / "models" / "model.pt").is_file()
    run(
        config_file=str(configs / "inference.json"),
        meta_file=str(configs / "metadata.json"),
        val_fraction=0.25,
        **common,
    )
    predictions = sorted((bundle / "eval").glob("*_seg.nii.gz"))
    assert [p.name for p in predictions] == ["case_003_seg.nii.gz"]
    assert nib.load(predictions[0]).shape == (19, 23, 17)
    summary = (bundle / "eval" / "mean_dice_summary.csv").read_text()
    assert summary.startswith("class,mean")


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
