import pytest
import torch
from timm.models import adapt_input_conv

from vitp_torchgeo.bands import (
    SENTINEL1_BANDS,
    SENTINEL2_BANDS,
    adapt_patch_embed_weight,
    normalize_band_name,
)


@pytest.fixture
def rgb_kernel() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(8, 3, 4, 4)


@pytest.mark.parametrize(
    ("name", "key"),
    [(" b04 ", "B4"), ("B8A", "B8A"), ("B08", "B8"), ("r", "RED"), ("Blue", "BLUE")],
)
def test_normalize_band_name(name: str, key: str) -> None:
    assert normalize_band_name(name) == key


def test_same_bands_is_identity(rgb_kernel: torch.Tensor) -> None:
    out, how = adapt_patch_embed_weight(rgb_kernel, 3, ["red", "green", "blue"], ["R", "G", "B"])
    assert how.method == "identity"
    assert torch.equal(out, rgb_kernel)


def test_reorder_by_name(rgb_kernel: torch.Tensor) -> None:
    with pytest.warns(UserWarning, match="selected/reordered"):
        out, how = adapt_patch_embed_weight(
            rgb_kernel, 3, ["red", "green", "blue"], ["blue", "green", "red"]
        )
    assert how.method == "select"
    assert how.source_index == [2, 1, 0]
    assert torch.equal(out, rgb_kernel.flip(1))


def test_select_subset_from_sentinel2() -> None:
    kernel = torch.randn(8, 13, 4, 4)
    out, how = adapt_patch_embed_weight(
        kernel, 3, SENTINEL2_BANDS, ["B04", "B03", "B02"], warn=False
    )
    assert how.method == "select"
    assert out.shape == (8, 3, 4, 4)
    assert torch.equal(out, kernel[:, [3, 2, 1]])


def test_partial_match_zero_initialises_new_bands(rgb_kernel: torch.Tensor) -> None:
    target = ["B1", "blue", "green", "red", *SENTINEL2_BANDS[4:]]
    out, how = adapt_patch_embed_weight(
        rgb_kernel, 13, ["red", "green", "blue"], target, warn=False
    )
    assert how.method == "partial"
    assert out.shape == (8, 13, 4, 4)
    assert torch.equal(out[:, 1:4], rgb_kernel.flip(1))
    assert out[:, 0].abs().sum() == 0 and out[:, 4:].abs().sum() == 0
    assert "B1" in how.message


def test_unknown_names_repeat_and_rescale_to_multispectral(rgb_kernel: torch.Tensor) -> None:
    with pytest.warns(UserWarning, match="repeated"):
        out, how = adapt_patch_embed_weight(rgb_kernel, 13)
    assert how.method == "repeat"
    assert torch.allclose(out, adapt_input_conv(13, rgb_kernel))
    assert torch.allclose(out[:, 3], rgb_kernel[:, 0] * 3 / 13)


def test_disjoint_names_fall_back_to_repeat_for_sar(rgb_kernel: torch.Tensor) -> None:
    out, how = adapt_patch_embed_weight(
        rgb_kernel, 2, ["red", "green", "blue"], SENTINEL1_BANDS, warn=False
    )
    assert how.method == "repeat"
    assert "no band name in common" in how.message
    assert out.shape == (8, 2, 4, 4)


def test_single_band_sums(rgb_kernel: torch.Tensor) -> None:
    out, _ = adapt_patch_embed_weight(rgb_kernel, 1, warn=False)
    assert torch.allclose(out[:, 0], rgb_kernel.sum(1))


def test_band_list_length_is_checked(rgb_kernel: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="in_channels=4"):
        adapt_patch_embed_weight(rgb_kernel, 4, None, ["red", "green", "blue"])
    with pytest.raises(ValueError, match="weights list 2 bands"):
        adapt_patch_embed_weight(rgb_kernel, 3, ["red", "green"], None)
