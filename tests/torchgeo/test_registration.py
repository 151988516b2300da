import pytest
import segmentation_models_pytorch as smp
import timm
import torch
import torchgeo
from torchgeo.models import get_model, get_model_weights, get_weight, list_models
from vitp_torchgeo_helpers import TINY_VIT

import vitp_torchgeo
from vitp_torchgeo.models import vitp as builders
from vitp_torchgeo.registration import register_with_torchgeo
from vitp_torchgeo.weights import VITP_WEIGHTS, ViTPIntern300M14_Weights


def test_installed_torchgeo_knows_vitp() -> None:
    assert register_with_torchgeo(), f"registration failed on torchgeo {torchgeo.__version__}"
    assert set(VITP_WEIGHTS) <= set(list_models())
    for name, enum in VITP_WEIGHTS.items():
        assert get_model_weights(name) is enum
        assert get_model_weights(getattr(builders, name)) is enum
    for member in ViTPIntern300M14_Weights:
        assert get_weight(str(member)) is member
    assert get_weight("ResNet18_Weights.SENTINEL2_ALL_MOCO")  # TorchGeo's own still resolve


def test_registration_is_idempotent() -> None:
    count = len(list_models())
    assert register_with_torchgeo()
    assert len(list_models()) == count


def test_missing_tables_warn_instead_of_failing(monkeypatch: pytest.MonkeyPatch) -> None:
    from torchgeo.models import api

    monkeypatch.delattr(api, "_model_weights")
    with pytest.warns(RuntimeWarning, match="not visible"):
        assert not register_with_torchgeo()


def test_get_model_builds_vitp() -> None:
    model = get_model("vitp_tiny_patch16_224", in_chans=4, **TINY_VIT)
    assert model(torch.randn(1, 4, 48, 32)).shape == (1, TINY_VIT["embed_dim"])


def test_timm_and_smp_names() -> None:
    assert "vitp_small_patch16_224" in timm.list_models("vitp_*")
    model = smp.DPT(
        encoder_name="tu-vitp_tiny_patch16_224",
        encoder_weights=None,
        in_channels=3,
        classes=2,
        img_size=32,
    )
    assert model.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 2, 32, 32)


def test_package_exports() -> None:
    assert vitp_torchgeo.ViTPIntern300M14_Weights is ViTPIntern300M14_Weights
