from pathlib import Path

import pytest
import torch
from vitp_torchgeo_helpers import EXAMPLES, fast_dev_args, run_torchgeo_cli, write_dubai

from vitp_torchgeo.trainers import ViTPSemanticSegmentationTask

SMALL_HEAD = [
    "--model.init_args.pyramid_channels",
    "16",
    "--model.init_args.decoder_channels",
    "16",
]


def test_example_yamls_fit_test_and_predict_a_scene(
    tmp_path: Path, tiny_export: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """dubai_vitp.yaml fits and tests; dubai_predict.yaml writes the scene's class COG."""
    import rasterio

    from vitp_torchgeo.prediction import cog_problems

    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"  # as $VITP_DATA: rs/dubai/tile_*/...
    root = write_dubai(data / "rs" / "dubai")
    overrides = [
        "--data.root", str(root), "--data.tile_size", "32", "--data.batch_size", "2",
        "--model.init_args.weights", str(tiny_export), *SMALL_HEAD,
    ]  # fmt: skip
    one_step = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1"]
    one_step += ["--trainer.limit_val_batches", "1", "--trainer.accelerator", "cpu"]
    config = ["--config", str(EXAMPLES / "dubai_vitp.yaml")]
    run_torchgeo_cli(["fit", *config, *one_step, *overrides])
    run_torchgeo_cli(["test", *fast_dev_args("dubai_vitp.yaml", *overrides)])
    assert "test_MulticlassJaccardIndex" in capsys.readouterr().out
    predict = ["--config", str(EXAMPLES / "dubai_predict.yaml"), "--data.init_args.root", str(data)]
    run_torchgeo_cli(["predict", *config, *predict, "--trainer.accelerator", "cpu"])
    out = tmp_path / "runs/torchgeo/dubai/predictions/tile_8_image_part_001.tif"
    with rasterio.open(out) as classes:  # a JPEG input: pixel coordinates, input size
        assert (classes.width, classes.height) == (80, 72) and classes.crs is None
        assert set(classes.read(1).ravel().tolist()) <= set(range(6))
    assert (
        cog_problems(out) == []
        and cog_problems(out.with_name(f"{out.stem}_probabilities.tif")) == []
    )
    assert out.with_name(f"{out.stem}.config.yaml").is_file()
    assert not (tmp_path / "config.yaml").exists()  # the working folder stays clean


def test_multispectral_input_with_band_adaptation(tiny_export: Path) -> None:
    with pytest.warns(UserWarning, match="zero-initialised"):
        task = ViTPSemanticSegmentationTask(
            weights=str(tiny_export),
            in_channels=4,
            bands=["blue", "green", "red", "nir"],
            num_classes=3,
            pyramid_channels=16,
            decoder_channels=16,
        )
    assert task.weights_result is not None
    assert task.weights_result.band_adaptation.method == "partial"
    assert task.weights_result.missing_keys == []
    assert task(torch.randn(2, 4, 48, 32)).shape == (2, 3, 48, 32)


def test_freezing(tiny_export: Path) -> None:
    kwargs = {"weights": str(tiny_export), "num_classes": 3, "pyramid_channels": 16}
    frozen = ViTPSemanticSegmentationTask(freeze_backbone=True, **kwargs)
    assert not any(p.requires_grad for p in frozen.model.encoder.vit.parameters())
    assert all(p.requires_grad for p in frozen.model.decoder.parameters())
    probe = ViTPSemanticSegmentationTask(freeze_decoder=True, **kwargs)
    trainable = {n for n, p in probe.model.named_parameters() if p.requires_grad}
    assert trainable == {"segmentation_head.weight", "segmentation_head.bias"}
    groups = probe.configure_optimizers()["optimizer"].param_groups
    assert sum(len(g["params"]) for g in groups) == 2


def test_torchgeo_segmentation_task_takes_vitp_through_smp_dpt() -> None:
    from torchgeo.trainers import SemanticSegmentationTask

    task = SemanticSegmentationTask(model="dpt", backbone="tu-vitp_tiny_patch16_224", num_classes=3)
    assert task.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 3, 32, 32)
