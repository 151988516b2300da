import pytest
import torch
from vitp_monai_helpers import TINY

from vitp_monai.networks import VitpEncoder, evenly_spaced_indices


def test_evenly_spaced_indices() -> None:
    assert evenly_spaced_indices(12, 4) == (2, 5, 8, 11)
    assert evenly_spaced_indices(24, 4) == (5, 11, 17, 23)
    assert evenly_spaced_indices(2, 4) == (0, 0, 1, 1)


@pytest.mark.parametrize(
    ("spatial_dims", "size", "grid"),
    [(2, (32, 48), (2, 3)), (3, (32, 16, 48), (2, 1, 3))],
)
def test_encoder_maps_have_token_grid_shape(spatial_dims: int, size: tuple, grid: tuple) -> None:
    encoder = VitpEncoder(
        spatial_dims=spatial_dims,
        in_channels=2,
        img_size=32,
        out_indices=[0, -1],
        backbone_kwargs=TINY,
    )
    maps = encoder(torch.randn(2, 2, *size))
    assert encoder.out_indices == (0, 1)
    assert [m.shape for m in maps] == [torch.Size((2, 32, *grid))] * 2


def test_encoder_state_dict_is_timm_under_vit_prefix() -> None:
    encoder = VitpEncoder(spatial_dims=3, in_channels=1, img_size=32, backbone_kwargs=TINY)
    state = encoder.state_dict()
    assert state["vit.patch_embed.proj.weight"].shape == (32, 1, 16, 16, 16)
    assert state["vit.pos_embed"].shape == (1, 1 + 8, 32)


def test_encoder_rejects_bad_taps_and_dims() -> None:
    with pytest.raises(ValueError, match="out_indices"):
        VitpEncoder(out_indices=[5], backbone_kwargs=TINY)
    with pytest.raises(ValueError, match="spatial_dims"):
        VitpEncoder(spatial_dims=4, backbone_kwargs=TINY)
    encoder = VitpEncoder(spatial_dims=3, img_size=32, backbone_kwargs=TINY)
    with pytest.raises(ValueError, match="multiple of the patch size"):
        encoder(torch.randn(1, 1, 20, 32, 32))


def test_grad_checkpointing_matches_plain_backward() -> None:
    torch.manual_seed(0)
    encoder = VitpEncoder(spatial_dims=3, img_size=32, out_indices=2, backbone_kwargs=TINY)
    x = torch.randn(1, 1, 32, 32, 16)
    plain = sum(m.sum() for m in encoder(x))
    plain.backward()
    grad = encoder.vit.blocks[0].attn.qkv.weight.grad.clone()
    encoder.zero_grad()
    encoder.set_grad_checkpointing()
    sum(m.sum() for m in encoder(x)).backward()
    torch.testing.assert_close(encoder.vit.blocks[0].attn.qkv.weight.grad, grad)
