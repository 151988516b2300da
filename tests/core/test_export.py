import json

import pytest
import timm
import torch
from safetensors.torch import load_file

from vitp_core.backbone import create_backbone
from vitp_core.export import (
    BackboneChecksumError,
    BackboneMetadata,
    export_backbone,
    load_backbone,
)
from vitp_core.training.checkpoint_checksum import write_checkpoint_checksum


def _export(tmp_path):
    torch.manual_seed(0)
    vit = create_backbone("vitp_tiny_patch16_224", in_chans=4, img_size=32, depth=2)
    meta = BackboneMetadata(
        model="vitp_tiny_patch16_224",
        model_kwargs={"depth": 2},
        img_size=(32, 32),
        patch_size=16,
        in_chans=4,
        embed_dim=192,
        band_names=["B2", "B3", "B4", "B8"],
    )
    return vit, export_backbone(vit, tmp_path / "bb.safetensors", meta)


def test_export_reloads_with_timm_and_all_keys_match(tmp_path) -> None:
    _vit, path = _export(tmp_path)
    meta = json.loads(path.with_suffix(".json").read_text())
    model = timm.create_model(meta["model"], in_chans=4, img_size=32, **meta["model_kwargs"])
    result = model.load_state_dict(load_file(path))
    assert not result.missing_keys and not result.unexpected_keys
    assert meta["band_names"] == ["B2", "B3", "B4", "B8"] and len(meta["sha256"]) == 64


def test_load_backbone_matches_and_resizes(tmp_path) -> None:
    vit, path = _export(tmp_path)
    x = torch.randn(1, 4, 32, 32)
    torch.testing.assert_close(load_backbone(path)(x), vit.eval()(x))
    assert load_backbone(path, img_size=64).pos_embed.shape[1] == 1 + 16


def test_load_backbone_rejects_a_changed_file(tmp_path) -> None:
    _, path = _export(tmp_path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BackboneChecksumError, match="does not match"):
        load_backbone(path)


def test_export_leaves_no_partial_file_on_error(tmp_path) -> None:
    vit, _ = _export(tmp_path)
    with pytest.raises(ValueError):
        export_backbone(vit, tmp_path / "x.bin", BackboneMetadata("m", (32, 32), 16, 4, 192))
    assert not list(tmp_path.glob(".*tmp"))


def _poison(vit: torch.nn.Module, name: str = "blocks.1.mlp.fc1.weight") -> None:
    with torch.no_grad():
        dict(vit.named_parameters())[name][0, :3] = float("nan")


def test_export_refuses_non_finite_weights_and_writes_nothing(tmp_path) -> None:
    from vitp_core.export import NonFiniteWeightsError

    vit, _ = _export(tmp_path / "ok")
    _poison(vit)
    meta = BackboneMetadata("vitp_tiny_patch16_224", (32, 32), 16, 4, 192, {"depth": 2})
    with pytest.raises(NonFiniteWeightsError, match=r"blocks\.1\.mlp\.fc1\.weight \(3 NaN/Inf"):
        export_backbone(vit, tmp_path / "bad.safetensors", meta)
    assert not list(tmp_path.glob("bad*")) and not list(tmp_path.glob(".bad*"))


def test_load_backbone_refuses_non_finite_weights(tmp_path) -> None:
    from safetensors.torch import save_file

    from vitp_core.atomic_io import sha256_file
    from vitp_core.export import NonFiniteWeightsError

    _, path = _export(tmp_path)
    state = load_file(path)
    state["blocks.0.attn.qkv.bias"][5] = float("inf")
    save_file(state, str(path))
    sidecar = path.with_suffix(".json")
    payload = json.loads(sidecar.read_text())
    payload["sha256"] = sha256_file(path)  # a consistent, signed, but non-finite export
    sidecar.write_text(json.dumps(payload))
    with pytest.raises(NonFiniteWeightsError, match=r"bb\.safetensors: .*blocks\.0\.attn\.qkv"):
        load_backbone(path)


@pytest.mark.parametrize("blank", ["", None])
def test_missing_checksum_is_an_error_unless_opted_out(tmp_path, blank) -> None:
    vit, path = _export(tmp_path)
    sidecar = path.with_suffix(".json")
    payload = json.loads(sidecar.read_text())
    if blank is None:
        del payload["sha256"]
    else:
        payload["sha256"] = blank
    sidecar.write_text(json.dumps(payload))
    with pytest.raises(BackboneChecksumError, match=r"records no sha256.*verify_checksum=False"):
        load_backbone(path)
    x = torch.randn(1, 4, 32, 32)
    torch.testing.assert_close(load_backbone(path, verify_checksum=False)(x), vit.eval()(x))


@pytest.fixture
def umask_022():
    import os

    old = os.umask(0o022)
    yield
    os.umask(old)


def test_kept_files_and_folders_get_the_usual_permissions(tmp_path, umask_022) -> None:
    from vitp_core.atomic_io import atomic_directory

    _, path = _export(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o644
    assert path.with_suffix(".json").stat().st_mode & 0o777 == 0o644
    with atomic_directory(tmp_path / "tokenizer") as staging:
        (staging / "vocab.json").write_text("{}")
    assert (tmp_path / "tokenizer").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "tokenizer" / "vocab.json").stat().st_mode & 0o777 == 0o644


def _checkpoint(tmp_path, poison: bool = False):
    torch.manual_seed(0)
    kwargs = {"depth": 1, "embed_dim": 32, "num_heads": 2}
    vit = create_backbone("vitp_tiny_patch16_224", img_size=32, **kwargs)
    state = {f"model.vit.{k}": v for k, v in vit.state_dict().items()}
    if poison:
        state["model.vit.blocks.0.norm1.weight"][:2] = float("nan")
    path = tmp_path / "last.ckpt"
    hparams = {"vit": "vitp_tiny_patch16_224", "img_size": 32, "vit_kwargs": kwargs}
    torch.save({"state_dict": state, "hyper_parameters": hparams, "global_step": 3}, path)
    write_checkpoint_checksum(path)  # as every checkpoint a vitp run writes has
    return path


@pytest.mark.parametrize("fmt", ["timm", "internvit"])
def test_vitp_export_refuses_a_non_finite_checkpoint_in_one_line(tmp_path, capsys, fmt) -> None:
    from vitp_core.cli import main

    ckpt = _checkpoint(tmp_path, poison=True)
    out = tmp_path / "out" / "vit.safetensors"
    assert main(["export", str(ckpt), "--out", str(out), "--format", fmt]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("vitp export: error: ")
    assert "last.ckpt: 1 tensor(s) hold non-finite values: blocks.0.norm1.weight (2 NaN/Inf" in err
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_vitp_export_writes_a_finite_checkpoint(tmp_path, capsys) -> None:
    from vitp_core.cli import main

    out = tmp_path / "vit.safetensors"
    assert main(["export", str(_checkpoint(tmp_path)), "--out", str(out)]) == 0
    assert load_backbone(out).blocks[0].norm1.weight.isfinite().all()
    assert main(["export", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "nope not found" in capsys.readouterr().err


def test_vitp_export_relabel_checks_the_source_export(tmp_path, capsys) -> None:
    from safetensors.torch import save_file

    from vitp_core.atomic_io import sha256_file
    from vitp_core.cli import main

    _, path = _export(tmp_path)
    sidecar = path.with_suffix(".json")
    payload = json.loads(sidecar.read_text())
    payload["sha256"] = ""
    sidecar.write_text(json.dumps(payload))
    out = tmp_path / "out" / "relabelled.safetensors"
    args = ["export", str(path), "--out", str(out), "--band-names", "b2", "b3", "b4", "b8"]
    assert main(args) == 2
    assert "records no sha256" in capsys.readouterr().err and not out.exists()
    state = load_file(path)
    state["pos_embed"][0, 0, 0] = float("nan")
    save_file(state, str(path))
    payload["sha256"] = sha256_file(path)
    sidecar.write_text(json.dumps(payload))
    assert main(args) == 2
    assert "non-finite values: pos_embed" in capsys.readouterr().err and not out.exists()
