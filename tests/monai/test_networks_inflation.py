import pytest
import torch
import torch.nn.functional as F

from vitp_monai.networks.inflation import (
    adapt_patch_kernel,
    inflate_patch_kernel,
    inflate_pos_embed,
    resample_pos_embed,
    resample_pos_embed_3d,
)


def test_inflated_kernel_reproduces_2d_response_on_depth_constant_volume() -> None:
    torch.manual_seed(0)
    weight2d = torch.randn(8, 2, 4, 4)
    image = torch.randn(1, 2, 8, 12)
    volume = image.unsqueeze(-1).repeat(1, 1, 1, 1, 4)  # constant along D
    out2d = F.conv2d(image, weight2d, stride=4)
    out3d = F.conv3d(volume, inflate_patch_kernel(weight2d, depth=4), stride=4)
    assert out3d.shape == (1, 8, 2, 3, 1)
    torch.testing.assert_close(out3d[..., 0], out2d, rtol=1e-5, atol=1e-5)


def test_adapt_patch_kernel_channels_patch_and_depth() -> None:
    weight = torch.randn(8, 3, 16, 16)
    out = adapt_patch_kernel(weight, in_channels=1, patch_size=(8, 8, 4))
    assert out.shape == (8, 1, 8, 8, 4)
    with pytest.raises(ValueError, match="3D patch kernel"):
        adapt_patch_kernel(torch.randn(8, 1, 4, 4, 4), in_channels=1, patch_size=(8, 8, 8))


def test_inflate_pos_embed_keeps_prefix_and_copies_plane_along_depth() -> None:
    pos = torch.randn(1, 1 + 4 * 4, 6)
    out = inflate_pos_embed(pos, new_grid=(4, 4, 3), old_grid=(4, 4), num_prefix_tokens=1)
    assert out.shape == (1, 1 + 48, 6)
    torch.testing.assert_close(out[:, :1], pos[:, :1])
    grid = out[0, 1:].reshape(4, 4, 3, 6)
    for depth in range(3):  # same in-plane grid at every depth, equal to the 2D one
        torch.testing.assert_close(grid[:, :, depth], pos[0, 1:].reshape(4, 4, 6))


def test_resample_pos_embed_dispatch_and_errors() -> None:
    pos2d = torch.randn(1, 1 + 9, 4)
    assert resample_pos_embed(pos2d, (2, 5)).shape == (1, 11, 4)  # square grid inferred
    assert resample_pos_embed(pos2d, (2, 2, 2)).shape == (1, 9, 4)
    pos3d = torch.randn(1, 8, 4)
    assert resample_pos_embed_3d(pos3d, (3, 3, 1), (2, 2, 2), 0).shape == (1, 9, 4)
    with pytest.raises(ValueError, match="neither a square nor a cube"):
        resample_pos_embed(torch.randn(1, 1 + 6, 4), (2, 2))
