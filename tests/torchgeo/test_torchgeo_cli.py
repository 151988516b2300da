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
