import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vitp_monai.cli import register


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vitp")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_init_and_verify_actions(
    tiny_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "my_bundle"
    args = parse(
        [
            "monai-bundle",
            "init",
            "--weights",
            str(tiny_export),
            "--out",
            str(out),
            "--roi-size",
            "16",
            "16",
            "16",
        ]
    )
    assert args.func(args) == 0
    assert "Wrote MONAI segmentation bundle" in capsys.readouterr().out
    assert json.loads((out / "configs" / "train.json").read_text())["roi_size"] == [16, 16, 16]
    args = parse(["monai-bundle", "verify", str(out)])
    assert args.func(args) == 0
    assert "verified" in capsys.readouterr().out


def test_vitp_console_script_lists_monai_bundle_init() -> None:
    beside_python = Path(sys.executable).with_name("vitp")
    vitp = str(beside_python) if beside_python.is_file() else shutil.which("vitp")
    if vitp is None:
        pytest.skip("the vitp console script is not installed (pip install -e .)")
    done = subprocess.run([vitp, "monai-bundle", "init", "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "--weights" in done.stdout and "--out" in done.stdout
