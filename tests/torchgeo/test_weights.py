from pathlib import Path

import kornia.augmentation as K
import pytest
import torch
from safetensors.torch import save_file
from vitp_torchgeo_helpers import TINY_VIT

from vitp_core.backbone import create_backbone
from vitp_core.export import BackboneChecksumError
from vitp_torchgeo.weights import (
    ViTPIntern300M14_Weights,
    ViTPSmall16_Weights,
    load_vitp_weights,
    read_weights,
    resolve_weights,
    weights_meta,
)

RELEASE = ViTPIntern300M14_Weights.VITP_VIT_L_300M_RS
TINY_INTERN = {"depth": 2, "embed_dim": 32, "num_heads": 2, "img_size": 28}


@pytest.fixture
def release_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, torch.Tensor]:
    """Point the official member at a tiny InternViT-layout file, as TorchGeo's tests do."""
    internvit = pytest.importorskip("vitp_core.checkpoints.internvit")
    torch.manual_seed(0)
    vit = create_backbone("vitp_intern300m_patch14_448", **TINY_INTERN)
    state = vit.state_dict()
    official = internvit.timm_to_internvit(state, prefix="vision_model.")
    path = tmp_path / "hub" / "ViTP_ViT_L_300M_rs.safetensors"
    path.parent.mkdir()
    save_file({k: v.contiguous() for k, v in official.items()}, str(path))
    monkeypatch.setattr(RELEASE.value, "url", path.as_uri())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return state


def test_release_members_are_torchgeo_style() -> None:
    for member in ViTPIntern300M14_Weights:
        meta = member.meta
        assert member.url.startswith("https://huggingface.co/GreatBird/ViTP/resolve/main/ckpts/")
        assert member.url.endswith(f"{meta['release']}.safetensors")
        assert meta["hf_filename"] == f"ckpts/{meta['release']}.safetensors"
        for key in ("dataset", "in_chans", "bands", "img_size", "model", "publication", "repo"):
            assert meta[key]
        assert meta["ssl_method"] == "vitp"
        assert meta["model"] == "vitp_intern300m_patch14_448"
        assert meta["in_chans"] == len(meta["bands"]) == 3
        assert "vrl" in meta
        assert isinstance(member.transforms, K.AugmentationSequential)
    assert {m.meta["release"] for m in ViTPIntern300M14_Weights} == {
        "ViTP_ViT_L_300M_rs",
        "ViTP_ViT_L_300M_med",
    }
    assert list(ViTPSmall16_Weights) == []  # nothing published at this size


def test_release_transforms_normalise_a_sample() -> None:
    image = torch.full((1, 3, 4, 4), 255.0)
    out = RELEASE.transforms({"image": image})["image"]
    expected = (255 - torch.tensor(RELEASE.meta["mean"])) / torch.tensor(RELEASE.meta["std"])
    assert torch.allclose(out[0, :, 0, 0], expected)


@pytest.mark.parametrize(
    "name",
    ["ViTPIntern300M14_Weights.VITP_VIT_L_300M_RS", "ViTP_ViT_L_300M_rs", RELEASE],
)
def test_names_resolve_to_the_member(name: object) -> None:
    assert resolve_weights(name) is RELEASE  # type: ignore[arg-type]


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="VITP_VIT_L_300M_MED"):
        resolve_weights("ViTPIntern300M14_Weights.NOPE")


def test_release_downloads_and_converts_internvit(release_file: dict[str, torch.Tensor]) -> None:
    state = RELEASE.get_state_dict(progress=False)
    assert set(state) == set(release_file)
    assert torch.equal(state["patch_embed.proj.weight"], release_file["patch_embed.proj.weight"])


def test_release_loads_with_no_missing_keys(release_file: dict[str, torch.Tensor]) -> None:
    model = create_backbone("vitp_intern300m_patch14_448", **TINY_INTERN)
    result = load_vitp_weights(model, RELEASE, progress=False)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert result.band_adaptation.method == "identity"
    assert torch.equal(model.blocks[1].ls2.gamma, release_file["blocks.1.ls2.gamma"])


def test_release_adapts_to_sentinel2_by_name(release_file: dict[str, torch.Tensor]) -> None:
    bands = ["B1", "blue", "green", "red", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]
    model = create_backbone("vitp_intern300m_patch14_448", in_chans=13, **TINY_INTERN)
    with pytest.warns(UserWarning, match="zero-initialised"):
        result = load_vitp_weights(model, RELEASE, bands=bands, progress=False)
    assert result.band_adaptation.method == "partial"
    kernel = model.patch_embed.proj.weight
    assert kernel.shape == (32, 13, 14, 14)
    assert torch.equal(kernel[:, 3], release_file["patch_embed.proj.weight"][:, 0])


def test_export_loads_with_no_missing_keys(tiny_export: Path) -> None:
    model = create_backbone("vitp_tiny_patch16_224", img_size=32, **TINY_VIT)
    result = load_vitp_weights(model, str(tiny_export))
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert result.meta["vrl"] == {"keep_ratio": 0.5}
    assert result.meta["model_kwargs"] == TINY_VIT
    reference = read_weights(tiny_export).state_dict
    assert all(torch.equal(v, reference[k]) for k, v in model.state_dict().items())


def test_export_into_classifier_other_size_and_sar(tiny_export: Path) -> None:
    model = create_backbone(
        "vitp_tiny_patch16_224", in_chans=2, img_size=64, num_classes=7, **TINY_VIT
    )
    with pytest.warns(UserWarning, match="no band name in common"):
        result = load_vitp_weights(model, tiny_export, bands=["VV", "VH"])
    assert set(result.missing_keys) == {"head.weight", "head.bias"}
    assert result.band_adaptation.method == "repeat"
    assert model.pos_embed.shape[1] == 1 + (64 // 16) ** 2
    assert model(torch.randn(1, 2, 64, 48)).shape == (1, 7)


def test_bare_state_dict_without_sidecar(tmp_path: Path) -> None:
    vit = create_backbone("vitp_tiny_patch16_224", img_size=32, **TINY_VIT)
    path = tmp_path / "plain.safetensors"
    save_file(vit.state_dict(), str(path))
    assert weights_meta(path) == {"in_chans": 3, "patch_size": 16}
    model = create_backbone("vitp_tiny_patch16_224", img_size=32, **TINY_VIT)
    assert load_vitp_weights(model, path).missing_keys == []


def test_corrupt_export_is_refused(tiny_export: Path) -> None:
    data = bytearray(tiny_export.read_bytes())
    data[-1] ^= 0xFF
    tiny_export.write_bytes(bytes(data))
    with pytest.raises(BackboneChecksumError, match="Re-export"):
        load_vitp_weights(create_backbone("vitp_tiny_patch16_224", **TINY_VIT), tiny_export)


def test_wrong_architecture_names_the_trained_model(tiny_export: Path) -> None:
    model = create_backbone("vitp_tiny_patch16_224", depth=3, embed_dim=32, num_heads=2)
    with pytest.raises(ValueError, match="vitp_tiny_patch16_224"):
        load_vitp_weights(model, tiny_export)
    wider = create_backbone("vitp_tiny_patch16_224", depth=2, embed_dim=64, num_heads=2)
    with pytest.raises(ValueError, match="does not fit"):
        load_vitp_weights(wider, tiny_export)
