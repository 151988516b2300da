import torch

from vitp_core.backbone import create_backbone
from vitp_torchgeo.models import ViTPDetectionBackbone, ViTPyramidEncoder, vitp_faster_rcnn


def test_backbone_levels_have_exact_strides_for_patch_14() -> None:
    vit = create_backbone("vitp_intern300m_patch14_448", depth=2, embed_dim=32, num_heads=2)
    backbone = ViTPDetectionBackbone(ViTPyramidEncoder(vit, out_channels=8))
    levels = backbone(torch.randn(1, 3, 224, 448))
    assert list(levels) == ["0", "1", "2", "3", "pool"]
    assert [tuple(f.shape[-2:]) for f in levels.values()] == [
        (56, 112),
        (28, 56),
        (14, 28),
        (7, 14),
        (4, 7),
    ]


def test_faster_rcnn_trains_and_predicts() -> None:
    torch.manual_seed(0)
    vit = create_backbone("vitp_tiny_patch16_224", in_chans=4, depth=2, embed_dim=32, num_heads=2)
    model = vitp_faster_rcnn(ViTPyramidEncoder(vit, out_channels=16), num_classes=3)
    assert model.transform.size_divisible == 32
    targets = [{"boxes": torch.tensor([[4.0, 6.0, 30.0, 40.0]]), "labels": torch.tensor([1])}] * 2
    losses = model.train()(torch.rand(2, 4, 64, 64), targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    sum(losses.values()).backward()
    assert vit.patch_embed.proj.weight.grad is not None
    (prediction,) = model.eval()(torch.rand(1, 4, 64, 64))
    assert prediction["boxes"].shape[1] == 4
