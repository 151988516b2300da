import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from vitp_monai_helpers import TINY, tiny_vit

from vitp_core.export import BackboneChecksumError
from vitp_monai.networks import VitpEncoder, VitpUNETR, timm_to_monai_vit
from vitp_monai.networks import pretrained as pretrained_module


def test_export_loads_into_3d_unetr_by_inflation(tiny_export: Path) -> None:
    net = VitpUNETR(
        1, 3, img_size=(32, 48, 32), backbone=None, pretrained=tiny_export, feature_size=4
    )
    report = net.encoder.load_report
    assert report.missing_keys == [] and report.unexpected_keys == []
    assert any("inflated to 3D, depth 16" in note for note in report.adapted)
    assert net.encoder.vit.pos_embed.shape == (1, 1 + 2 * 3 * 2, TINY["embed_dim"])
    source = tiny_vit(img_size=64)
    torch.testing.assert_close(
        net.encoder.vit.blocks[1].mlp.fc2.weight, source.blocks[1].mlp.fc2.weight
    )


def test_2d_export_with_same_grid_gives_timm_features(tiny_export: Path) -> None:
    encoder = VitpEncoder(
        backbone=None,
        spatial_dims=2,
        in_channels=3,
        img_size=64,
        out_indices=[-1],
        pretrained=tiny_export,
    )
    source = tiny_vit(img_size=64)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        (feature,) = encoder(x)
        expected = source.forward_features(x)[:, 1:].transpose(1, 2).reshape(1, 32, 4, 4)
    torch.testing.assert_close(feature, expected, rtol=1e-5, atol=1e-5)


def test_checksum_mismatch_is_reported(tiny_export: Path) -> None:
    sidecar = tiny_export.with_suffix(".json")
    payload = json.loads(sidecar.read_text())
    payload["sha256"] = "0" * 64
    sidecar.write_text(json.dumps(payload))
    with pytest.raises(BackboneChecksumError, match="does not match"):
        VitpEncoder(backbone_kwargs=TINY, pretrained=tiny_export)


def test_nested_prefixed_and_monai_checkpoints(tmp_path: Path) -> None:
    source = tiny_vit(img_size=32)
    nested = tmp_path / "lightning.ckpt"
    torch.save(
        {"state_dict": {f"model.backbone.{k}": v for k, v in source.state_dict().items()}}, nested
    )
    encoder = VitpEncoder(
        spatial_dims=2, in_channels=3, img_size=32, backbone_kwargs=TINY, pretrained=nested
    )
    assert encoder.load_report.missing_keys == []
    torch.testing.assert_close(encoder.vit.pos_embed, source.pos_embed)

    monai_file = tmp_path / "monai_vit.pt"
    torch.save(timm_to_monai_vit(source.state_dict()), monai_file)
    report = encoder.load_pretrained(monai_file)
    assert report.converted_from == "monai_vit" and report.missing_keys == []
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = source.forward_features(x)[:, 1:]
    # the class-token position is folded into the MONAI token: same features after reload
    got = encoder(x)[-1].flatten(2).transpose(1, 2)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_internvit_checkpoint_loads(tmp_path: Path) -> None:
    internvit = pytest.importorskip("vitp_core.checkpoints.internvit")
    source = tiny_vit(init_values=0.1, img_size=28, patch_size=14, final_norm=False)
    path = tmp_path / "internvit.safetensors"
    save_file(internvit.timm_to_internvit(source.state_dict(), prefix="vision_model."), str(path))
    encoder = VitpEncoder(
        "vitp_intern300m_patch14_448",
        in_channels=3,
        img_size=28,
        out_indices=[-1],
        backbone_kwargs=TINY,
        pretrained=path,
    )
    assert encoder.load_report.converted_from == "internvit"
    assert encoder.load_report.missing_keys == []
    x = torch.randn(1, 3, 28, 28)
    with torch.no_grad():
        expected = source.forward_features(x)[:, 1:].transpose(1, 2).reshape(1, 32, 2, 2)
        torch.testing.assert_close(encoder(x)[0], expected, rtol=1e-5, atol=1e-5)


def test_hub_id_downloads_weights_and_sidecar(
    tiny_export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError

    calls = []

    def fake_download(repo_id: str, filename: str) -> str:
        calls.append((repo_id, filename))
        local = tiny_export.parent / filename
        if not local.exists():
            raise EntryNotFoundError(f"{filename} not in {repo_id}")
        return str(local)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    encoder = VitpEncoder(
        backbone=None, img_size=64, in_channels=3, pretrained="hf-hub:org/vitp-tiny"
    )
    assert ("org/vitp-tiny", "backbone.safetensors") in calls
    assert ("org/vitp-tiny", "backbone.json") in calls
    assert encoder.load_report.missing_keys == []
    with pytest.raises(FileNotFoundError, match="No weights found"):
        pretrained_module.fetch_weights("hf-hub:org/vitp-tiny/other.safetensors")


def test_bad_sources_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        VitpEncoder(backbone_kwargs=TINY, pretrained=tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    save_file({"foo.weight": torch.zeros(2)}, str(junk))
    with pytest.raises(ValueError, match="no ViT patch embedding found"):
        VitpEncoder(backbone_kwargs=TINY, pretrained=junk)
    with pytest.raises(ValueError, match="backbone=None"):
        VitpEncoder(backbone=None, pretrained=junk)
