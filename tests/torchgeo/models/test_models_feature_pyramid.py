import pytest
import torch

from vitp_core.backbone import create_backbone
from vitp_torchgeo.models import SimpleFeaturePyramid, ViTPyramidEncoder, default_out_indices


def test_default_out_indices() -> None:
    assert default_out_indices(12) == [2, 5, 8, 11]
    assert default_out_indices(24) == [5, 11, 17, 23]
    assert default_out_indices(2) == [1]


@pytest.mark.parametrize(("patch", "size"), [(16, (64, 96)), (14, (56, 42))])
def test_pyramid_strides(patch: int, size: tuple[int, int]) -> None:
    name = "vitp_tiny_patch16_224" if patch == 16 else "vitp_intern300m_patch14_448"
    vit = create_backbone(name, in_chans=5, depth=4, embed_dim=32, num_heads=2)
    encoder = ViTPyramidEncoder(vit, out_channels=8)
    assert encoder.out_indices == [0, 1, 2, 3]
    assert encoder.strides == [patch / 4, patch / 2, patch, patch * 2]
    features = encoder(torch.randn(2, 5, *size))
    grid = (size[0] // patch, size[1] // patch)
    expected = [
        (grid[0] * 4, grid[1] * 4),
        (grid[0] * 2, grid[1] * 2),
        grid,
        (grid[0] // 2, grid[1] // 2),
    ]
    assert [tuple(f.shape[-2:]) for f in features] == expected
    assert all(f.shape[:2] == (2, 8) for f in features)


def test_single_block_feeds_all_levels() -> None:
    pyramid = SimpleFeaturePyramid(16, 8)
    out = pyramid([torch.randn(1, 16, 4, 4)])
    assert [f.shape[-1] for f in out] == [16, 8, 4, 2]


def test_bad_input_size_and_indices_are_explained() -> None:
    vit = create_backbone("vitp_tiny_patch16_224", depth=2, embed_dim=32, num_heads=2)
    encoder = ViTPyramidEncoder(vit, out_channels=8)
    with pytest.raises(ValueError, match="multiple of the patch size"):
        encoder(torch.randn(1, 3, 40, 32))
    with pytest.raises(ValueError, match="1 or 4 blocks"):
        ViTPyramidEncoder(vit, out_indices=[0, 1])
    with pytest.raises(ValueError, match="increasing"):
        ViTPyramidEncoder(
            create_backbone("vitp_tiny_patch16_224", depth=4, embed_dim=32, num_heads=2),
            out_indices=[3, 2, 1, 0],
        )
