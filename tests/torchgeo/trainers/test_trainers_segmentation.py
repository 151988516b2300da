from pathlib import Path

import pytest
import torch
from vitp_torchgeo_helpers import fast_dev_args, run_torchgeo_cli, write_dubai

from vitp_torchgeo.trainers import ViTPSemanticSegmentationTask

SMALL_HEAD = [
    "--model.init_args.pyramid_channels",
    "16",
    "--model.init_args.decoder_channels",
    "16",
]


def test_example_yaml_fits_and_tests(
    tmp_path: Path, tiny_export: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    root = write_dubai(tmp_path / "dubai")
    overrides = [
        "--data.root", str(root), "--data.tile_size", "32", "--data.batch_size", "2",
        "--model.init_args.weights", str(tiny_export), *SMALL_HEAD,
    ]  # fmt: skip
    run_torchgeo_cli(["fit", *fast_dev_args("dubai_vitp.yaml", *overrides)])
    run_torchgeo_cli(["test", *fast_dev_args("dubai_vitp.yaml", *overrides)])
    assert "test_MulticlassJaccardIndex" in capsys.readouterr().out


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
