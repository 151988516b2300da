import torch

from vitp_core.backbone import create_backbone
from vitp_torchgeo.models import ViTPUPerNet, ViTPyramidEncoder


def test_logits_match_input_size_for_patch_14_and_16() -> None:
    for name, size in [
        ("vitp_tiny_patch16_224", (64, 48)),
        ("vitp_intern300m_patch14_448", (42, 56)),
    ]:
        vit = create_backbone(name, in_chans=4, depth=2, embed_dim=32, num_heads=2)
        model = ViTPUPerNet(
            ViTPyramidEncoder(vit, out_channels=16), num_classes=6, decoder_channels=16
        )
        assert model(torch.randn(2, 4, *size)).shape == (2, 6, *size)


def test_gradients_reach_the_backbone() -> None:
    vit = create_backbone("vitp_tiny_patch16_224", depth=2, embed_dim=32, num_heads=2)
    model = ViTPUPerNet(ViTPyramidEncoder(vit, out_channels=16), num_classes=3, decoder_channels=16)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert vit.patch_embed.proj.weight.grad is not None
