import pytest
import torch
from vitp_monai_helpers import TINY

from vitp_monai.networks import VitpUNETR


@pytest.mark.parametrize(
    ("spatial_dims", "size"),
    [(2, (37, 45)), (3, (35, 51, 35)), (3, (17, 20, 16))],
)
def test_unetr_output_matches_odd_input_size(spatial_dims: int, size: tuple) -> None:
    net = VitpUNETR(
        1, 3, img_size=32, spatial_dims=spatial_dims, feature_size=4, backbone_kwargs=TINY
    )
    out = net(torch.randn(1, 1, *size))
    assert out.shape == (1, 3, *size)


def test_unetr_patch14_backbone_and_backward() -> None:
    net = VitpUNETR(
        2,
        2,
        img_size=(28, 28, 28),
        backbone="vitp_intern300m_patch14_448",
        feature_size=4,
        backbone_kwargs=TINY,
    )
    assert net.encoder.patch_size == (14, 14, 14)
    x = torch.randn(1, 2, 33, 20, 17)
    out = net(x)
    out.mean().backward()
    assert out.shape == (1, 2, 33, 20, 17)
    assert net.encoder.vit.blocks[0].attn.qkv.weight.grad is not None


def test_unetr_needs_four_taps() -> None:
    with pytest.raises(ValueError, match="exactly 4 taps"):
        VitpUNETR(1, 2, img_size=32, out_indices=[0, 1], backbone_kwargs=TINY)
