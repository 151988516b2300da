from pathlib import Path

import pytest
import torch
from timm.models.vision_transformer import VisionTransformer
from vitp_torchgeo_helpers import fast_dev_args, run_torchgeo_cli, write_levircd

from vitp_torchgeo.trainers import ViTPChangeDetectionTask


def test_example_yaml_fits_and_tests(
    tmp_path: Path, tiny_export: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    root = write_levircd(tmp_path / "levir")
    overrides = [
        "--data.root", str(root), "--data.patch_size", "32",
        "--model.init_args.weights", str(tiny_export),
        "--model.init_args.pyramid_channels", "16", "--model.init_args.decoder_channels", "16",
    ]  # fmt: skip
    run_torchgeo_cli(["fit", *fast_dev_args("levircd_samples_vitp.yaml", *overrides)])
    run_torchgeo_cli(["test", *fast_dev_args("levircd_samples_vitp.yaml", *overrides)])
    assert "test_BinaryF1Score" in capsys.readouterr().out


def test_siamese_weights_are_shared_and_loaded(tiny_export: Path) -> None:
    task = ViTPChangeDetectionTask(
        weights=str(tiny_export), fusion="diff", pyramid_channels=16, decoder_channels=16
    )
    assert task.weights_result is not None and task.weights_result.missing_keys == []
    vits = {id(m) for m in task.model.modules() if isinstance(m, VisionTransformer)}
    assert len(vits) == 1
    logits = task(torch.randn(2, 2, 3, 32, 32))
    assert logits.shape == (2, 1, 32, 32)
