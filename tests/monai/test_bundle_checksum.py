"""Item 7: `vitp monai-bundle init` refuses an export whose sidecar records no SHA-256,
unless told `--no-verify-checksum` (the bundle's copy then records its checksum)."""

import json
from pathlib import Path

import pytest

from vitp_core.atomic_io import sha256_file
from vitp_core.cli import main as vitp


def test_bundle_refuses_an_export_without_checksum_unless_told(
    tiny_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    sidecar = tiny_export.with_suffix(".json")
    payload = json.loads(sidecar.read_text())
    payload["sha256"] = ""
    sidecar.write_text(json.dumps(payload))
    args = ["monai-bundle", "init", "--weights", str(tiny_export), "--out", str(tmp_path / "b")]
    assert vitp(args) == 2
    err = capsys.readouterr().err.strip()
    assert "records no sha256" in err and "--no-verify-checksum" in err
    assert len(err.splitlines()) == 1
    assert vitp([*args, "--force", "--no-verify-checksum"]) == 0
    copy = tmp_path / "b" / "models" / "backbone.safetensors"
    assert json.loads(copy.with_suffix(".json").read_text())["sha256"] == sha256_file(copy)
