import subprocess
import sys
from pathlib import Path
from unittest.mock import patch

import pytest
from vitp_torchgeo_helpers import EXAMPLES, REPO_ROOT, write_rsscn7

from vitp_torchgeo.cli import main


def test_wrapper_runs_torchgeo_cli(
    tmp_path: Path, tiny_export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    root = write_rsscn7(tmp_path / "rsscn7", per_class=20)
    args = [
        "fit", "--config", str(EXAMPLES / "rsscn7_vitp.yaml"),
        "--trainer.fast_dev_run", "1", "--trainer.accelerator", "cpu",
        "--data.root", str(root), "--data.batch_size", "2",
        "--model.init_args.weights", str(tiny_export),
    ]  # fmt: skip
    with patch.object(sys, "argv", ["vitp-torchgeo"]):
        assert main(args) == 0


@pytest.mark.slow
def test_plain_torchgeo_command_imports_vitp_from_the_yaml(
    tmp_path: Path, tiny_export: Path
) -> None:
    """`torchgeo fit` in a fresh process: the YAML's class_path is the only import of vitp."""
    root = write_rsscn7(tmp_path / "rsscn7", per_class=20)
    torchgeo = Path(sys.executable).with_name("torchgeo")
    command = [
        str(torchgeo), "fit", "--config", str(EXAMPLES / "rsscn7_vitp.yaml"),
        "--trainer.fast_dev_run", "1", "--trainer.accelerator", "cpu",
        "--data.root", str(root), "--data.batch_size", "2",
        "--model.init_args.weights", str(tiny_export),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert REPO_ROOT.exists()


def test_torchgeo_fit_then_predict_with_the_example_configs(
    tmp_path: Path, tiny_export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`torchgeo fit`, then `torchgeo predict --config fit.yaml --config predict.yaml`."""
    import rasterio
    from vitp_torchgeo_helpers import run_torchgeo_cli, write_levircd

    monkeypatch.chdir(tmp_path)
    root = write_levircd(tmp_path / "levir", size=64)
    common = [
        "--trainer.accelerator", "cpu",
        "--model.init_args.weights", str(tiny_export),
        "--model.init_args.pyramid_channels", "16",
        "--model.init_args.decoder_channels", "16",
    ]  # fmt: skip
    run_torchgeo_cli(
        [
            "fit", "--config", str(EXAMPLES / "levircd_samples_vitp.yaml"), *common,
            "--trainer.max_epochs", "1", "--data.root", str(root), "--data.patch_size", "32",
        ]
    )  # fmt: skip
    run_torchgeo_cli(
        [
            "predict",
            "--config", str(EXAMPLES / "levircd_samples_vitp.yaml"),
            "--config", str(EXAMPLES / "levircd_samples_predict.yaml"),
            *common,
            "--data.init_args.root", str(root),
            "--data.init_args.image", "A/test_1_0000.png",
            "--data.init_args.image2", "B/test_1_0000.png",
        ]
    )  # fmt: skip
    out = tmp_path / "runs/torchgeo/levircd_samples/predictions/test_2_0000_0000_change.tif"
    with rasterio.open(out) as change:
        assert (change.width, change.height) == (64, 64)
        assert set(change.read(1).ravel().tolist()) <= {0, 1}
        assert change.tags()["VITP_CHECKPOINT"].endswith("last.ckpt")
    assert (out.parent / "test_2_0000_0000_probability.tif").is_file()
    # LightningCLI's saved config goes beside the predictions, not into the working folder
    assert (out.parent / "test_2_0000_0000_change.config.yaml").is_file()
    assert not (tmp_path / "config.yaml").exists()
