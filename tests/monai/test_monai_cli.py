import argparse
import json
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


def test_vitp_command_lists_monai_bundle_init(capsys: pytest.CaptureFixture) -> None:
    """``vitp monai-bundle init --help`` through the real ``vitp.commands`` entry point."""
    from vitp_core.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["monai-bundle", "init", "--help"])
    assert stop.value.code == 0
    help_text = capsys.readouterr().out
    assert "--weights" in help_text and "--out" in help_text
