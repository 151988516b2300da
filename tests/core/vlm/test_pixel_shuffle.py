import pytest
import torch

from vitp_core.vlm.pixel_shuffle import pixel_shuffle, pixel_shuffle_index


def internvl_pixel_shuffle_v2(x: torch.Tensor, scale_factor: float = 0.5) -> torch.Tensor:
    """InternVL's code, verbatim in logic (square grids)."""
    n, w, h, c = x.size()
    x = x.view(n, w, int(h * scale_factor), int(c / scale_factor))
    x = x.permute(0, 2, 1, 3).contiguous()
    x = x.view(
        n, int(h * scale_factor), int(w * scale_factor), int(c / (scale_factor * scale_factor))
    )
    return x.permute(0, 2, 1, 3).contiguous()


def test_matches_internvl_on_square_grids() -> None:
    x = torch.randn(2, 8, 8, 5)
    torch.testing.assert_close(pixel_shuffle(x), internvl_pixel_shuffle_v2(x))


def test_merges_2x2_neighbourhoods_in_order() -> None:
    index = pixel_shuffle_index(4, 6)
    assert index.shape == (6, 4)
    assert index[0].tolist() == [0, 1, 6, 7]
    assert index[1].tolist() == [2, 3, 8, 9]


def test_index_equals_shuffle_on_rectangular_grids() -> None:
    x = torch.randn(3, 4, 6, 7)
    index = pixel_shuffle_index(4, 6)
    gathered = x.reshape(3, 24, 7)[:, index.flatten()].reshape(3, 6, 28)
    torch.testing.assert_close(gathered, pixel_shuffle(x).reshape(3, 6, 28))


def test_odd_grid_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="multiple of 2"):
        pixel_shuffle(torch.randn(1, 7, 7, 4))
