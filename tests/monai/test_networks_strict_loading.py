"""MONAI networks load pretrained weights strictly by default, with a report."""

import json
import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from vitp_monai_helpers import TINY, tiny_vit

from vitp_core.atomic_io import sha256_file
from vitp_core.export import BackboneChecksumError, NonFiniteWeightsError
from vitp_monai.networks import VitpClassifier, VitpEncoder, VitpUNETR
from vitp_monai.networks.pretrained import PretrainedWeightsMismatchError


def _rewrite(export: Path, state: dict | None = None, **sidecar: object) -> Path:
    """Change an export's tensors and/or sidecar keys, keeping its checksum valid."""
    if state is not None:
        save_file(state, str(export))
    side = export.with_suffix(".json")
    payload = {**json.loads(side.read_text()), **sidecar}
    payload["sha256"] = sha256_file(export)
    side.write_text(json.dumps(payload))
    return export


def test_sidecar_architecture_that_does_not_fit_the_tensors_is_refused(
    tiny_export: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _rewrite(tiny_export, model_kwargs={**TINY, "embed_dim": 48, "num_heads": 3})
    with pytest.raises(PretrainedWeightsMismatchError, match=r"0 of \d+ tensors loaded"):
        VitpUNETR(1, 2, img_size=32, backbone=None, pretrained=tiny_export, feature_size=4)
    with caplog.at_level(logging.WARNING):
        net = VitpUNETR(
            1,
            2,
            img_size=32,
            backbone=None,
            pretrained=tiny_export,
            feature_size=4,
            pretrained_strict=False,
        )
    report = net.encoder.load_report
    assert report.loaded == 0 and report.skipped
    assert "0 of" in caplog.text


def test_missing_and_unexpected_tensors_are_named(tiny_export: Path) -> None:
    state = load_file(tiny_export)
    without_block = {k: v for k, v in state.items() if not k.startswith("blocks.1.")}
    _rewrite(tiny_export, without_block)
    with pytest.raises(PretrainedWeightsMismatchError, match=r"missing .*blocks\.1\.attn"):
        VitpClassifier(3, 2, img_size=64, backbone=None, pretrained=tiny_export)
    lenient = VitpClassifier(
        3, 2, img_size=64, backbone=None, pretrained=tiny_export, pretrained_strict=False
    )
    assert any(k.startswith("blocks.1.") for k in lenient.encoder.load_report.missing_keys)

    deeper = tiny_vit(img_size=64, depth=3).state_dict()
    path = tiny_export.parent / "deeper.safetensors"
    save_file(deeper, str(path))
    with pytest.raises(PretrainedWeightsMismatchError, match=r"unexpected .*blocks\.2\."):
        VitpEncoder(in_channels=3, img_size=64, backbone_kwargs=TINY, pretrained=path)


def test_a_classification_head_in_the_file_is_a_named_allowed_exception(tmp_path: Path) -> None:
    source = tiny_vit(img_size=32, num_classes=5)
    path = tmp_path / "with_head.safetensors"
    save_file(source.state_dict(), str(path))
    encoder = VitpEncoder(in_channels=3, img_size=32, backbone_kwargs=TINY, pretrained=path)
    report = encoder.load_report
    assert report.missing_keys == [] and report.unexpected_keys == []
    assert report.ignored_keys == ["head.bias", "head.weight"]
    assert "ignored (allowed)" in str(report)


def test_blank_checksum_and_non_finite_weights_are_refused(tiny_export: Path) -> None:
    _rewrite(tiny_export)
    side = tiny_export.with_suffix(".json")
    payload = json.loads(side.read_text())
    payload["sha256"] = ""
    side.write_text(json.dumps(payload))
    with pytest.raises(BackboneChecksumError, match="verify_checksum=False"):
        VitpEncoder(backbone=None, in_channels=3, img_size=64, pretrained=tiny_export)
    encoder = VitpEncoder(
        backbone=None, in_channels=3, img_size=64, pretrained=tiny_export, verify_checksum=False
    )
    assert encoder.load_report.missing_keys == []

    state = load_file(tiny_export)
    state["pos_embed"][0, 0, 0] = float("nan")
    _rewrite(tiny_export, state)
    with pytest.raises(NonFiniteWeightsError, match="pos_embed"):
        VitpUNETR(1, 2, img_size=32, backbone=None, pretrained=tiny_export, feature_size=4)
    assert torch.isfinite(encoder.vit.pos_embed).all()
