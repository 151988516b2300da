"""`vitp export --band-names/--mean/--std` records bands so adaptation by name happens."""

import json
from pathlib import Path

import pytest
import torch
from vitp_torchgeo_helpers import write_tiny_export

from vitp_core.backbone import create_backbone
from vitp_core.cli import main as vitp_main
from vitp_torchgeo.weights import load_vitp_weights

LANDSAT = ["landsat8:B2", "landsat8:B3", "landsat8:B4", "landsat8:B5", "landsat8:B6", "landsat8:B7"]


def test_older_export_gets_bands_and_landsat_adapts_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    old = write_tiny_export(tmp_path / "old" / "backbone.safetensors", bands=[])
    assert not json.loads(old.with_suffix(".json").read_text())["band_names"]
    new = tmp_path / "new" / "backbone.safetensors"
    args = ["export", str(old), "--out", str(new), "--band-names", "red", "green", "blue"]
    assert vitp_main([*args, "--mean", "0.4", "0.4", "0.4", "--std", "0.2", "0.2", "0.2"]) == 0
    sidecar = json.loads(new.with_suffix(".json").read_text())
    assert sidecar["band_names"] == ["red", "green", "blue"] and sidecar["std"] == [0.2] * 3
    assert sidecar["sha256"] == json.loads(old.with_suffix(".json").read_text())["sha256"]
    vit = create_backbone("vitp_tiny_patch16_224", in_chans=6, img_size=32, depth=2,
                          embed_dim=32, num_heads=2)  # fmt: skip
    with pytest.warns(UserWarning, match="zero-initialised"):
        result = load_vitp_weights(vit, new, bands=LANDSAT)
    assert result.band_adaptation.method == "partial"
    assert result.band_adaptation.source_index == [2, 1, 0, None, None, None]
    kernel = vit.patch_embed.proj.weight
    assert torch.count_nonzero(kernel[:, 3:]) == 0 and torch.count_nonzero(kernel[:, :3]) > 0


def test_band_count_mismatch_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    old = write_tiny_export(tmp_path / "old" / "backbone.safetensors")
    code = vitp_main(["export", str(old), "--out", str(tmp_path / "x.safetensors"),
                      "--band-names", "red", "green"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "--band-names gives 2 values" in err
    assert not (tmp_path / "x.safetensors").exists()


def test_unnamed_rgb_export_is_taken_as_rgb(tmp_path: Path) -> None:
    old = write_tiny_export(tmp_path / "old" / "backbone.safetensors", bands=[])
    vit = create_backbone("vitp_tiny_patch16_224", in_chans=3, img_size=32, depth=2,
                          embed_dim=32, num_heads=2)  # fmt: skip
    with pytest.warns(UserWarning, match="records no band names"):
        result = load_vitp_weights(vit, old, bands=["blue", "green", "red"])
    assert result.band_adaptation.method == "select"
