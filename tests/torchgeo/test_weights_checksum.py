"""Item 7: a `vitp export` whose sidecar records no SHA-256 is not loaded into TorchGeo
models; `vitp export FILE --out NEW --no-verify-checksum` records one for a trusted file."""

import json
from pathlib import Path

import pytest
from vitp_torchgeo_helpers import write_tiny_export

from vitp_core.cli import main as vitp
from vitp_core.export import BackboneChecksumError


def _blank_checksum(export: Path) -> None:
    sidecar = export.with_suffix(".json")
    payload = json.loads(sidecar.read_text())
    payload["sha256"] = ""
    sidecar.write_text(json.dumps(payload))


def test_export_without_checksum_is_refused_until_one_is_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from vitp_torchgeo.weights import read_weights

    export = write_tiny_export(tmp_path / "old.safetensors")
    assert read_weights(export).meta["model"] == "vitp_tiny_patch16_224"
    _blank_checksum(export)
    with pytest.raises(BackboneChecksumError, match="records no sha256"):
        read_weights(export)
    new = tmp_path / "new.safetensors"
    assert vitp(["export", str(export), "--out", str(new)]) == 2
    assert "records no sha256" in capsys.readouterr().err and not new.exists()
    assert vitp(["export", str(export), "--out", str(new), "--no-verify-checksum"]) == 0
    assert read_weights(new).meta["model"] == "vitp_tiny_patch16_224"
