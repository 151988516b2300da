import pytest
import torch

from vitp_core.backbone import create_backbone
from vitp_torchgeo.models import SiameseViTPChangeNet, ViTPyramidEncoder


def _net(fusion: str) -> SiameseViTPChangeNet:
    torch.manual_seed(0)
    vit = create_backbone("vitp_tiny_patch16_224", depth=2, embed_dim=32, num_heads=2)
    return SiameseViTPChangeNet(ViTPyramidEncoder(vit, out_channels=16), 1, fusion, 16).eval()


@pytest.mark.parametrize("fusion", ["concat", "diff"])
def test_pairs_in_both_layouts(fusion: str) -> None:
    net = _net(fusion)
    pairs = torch.randn(2, 2, 3, 32, 64)
    out = net(pairs)
    assert out.shape == (2, 1, 32, 64)
    assert torch.allclose(out, net(pairs.flatten(1, 2)))


def test_diff_fusion_is_symmetric_in_time() -> None:
    net = _net("diff")
    pairs = torch.randn(1, 2, 3, 32, 32)
    assert torch.allclose(net(pairs), net(pairs.flip(1)), atol=1e-6)


def test_one_date_is_rejected() -> None:
    with pytest.raises(ValueError, match="2 dates"):
        _net("concat")(torch.randn(1, 1, 3, 32, 32))
