"""Object detection (horizontal boxes) with a ViTP backbone and torchvision Faster R-CNN.

:class:`ViTPDetectionBackbone` turns the simple feature pyramid into the ordered dict of
maps that torchvision's detectors expect, at exact strides 4, 8, 16 and 32 px (levels
of a patch-14 ViT are resampled to them) plus a stride-64 ``"pool"`` level, as
torchvision's ``LastLevelMaxPool`` adds to an FPN.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch.nn.functional as F
from torch import Tensor, nn
from torchgeo.trainers.utils import GeneralizedRCNNTransformNoOp
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import MultiScaleRoIAlign

from vitp_torchgeo.models.feature_pyramid import ViTPyramidEncoder

__all__ = ["DETECTION_STRIDES", "ViTPDetectionBackbone", "vitp_faster_rcnn"]

#: Strides in pixels of the detection levels ``"0"``..``"3"``.
DETECTION_STRIDES: tuple[int, ...] = (4, 8, 16, 32)


class ViTPDetectionBackbone(nn.Module):
    """ViTP + simple feature pyramid as a torchvision detection backbone."""

    def __init__(self, encoder: ViTPyramidEncoder) -> None:
        """Initialize a new ViTPDetectionBackbone.

        Args:
            encoder: Backbone with its feature pyramid.
        """
        super().__init__()
        self.encoder = encoder
        #: Width of every level, read by torchvision's detection heads.
        self.out_channels = encoder.out_channels

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        """Compute the detection pyramid.

        Args:
            x: Padded image batch, shape ``(B, C, H, W)``; sides multiples of 32 px and of
                the patch size.

        Returns:
            Maps ``"0"``..``"3"`` of shape ``(B, out_channels, H / s, W / s)`` for strides
            4, 8, 16, 32 and ``"pool"`` at stride 64.
        """
        height, width = x.shape[-2:]
        levels: OrderedDict[str, Tensor] = OrderedDict()
        for name, (feature, stride) in enumerate(
            zip(self.encoder(x), DETECTION_STRIDES, strict=True)
        ):
            size = (math.ceil(height / stride), math.ceil(width / stride))
            if feature.shape[-2:] != size:
                feature = F.interpolate(feature, size=size, mode="bilinear", align_corners=False)
            levels[str(name)] = feature
        levels["pool"] = F.max_pool2d(levels[str(len(DETECTION_STRIDES) - 1)], 1, 2, 0)
        return levels


def vitp_faster_rcnn(encoder: ViTPyramidEncoder, num_classes: int) -> FasterRCNN:
    """Faster R-CNN (horizontal boxes) on a ViTP simple feature pyramid.

    Like TorchGeo's ``ObjectDetectionTask``, the detector's internal resize and
    normalisation are disabled: the datamodule normalises and sizes the images. The batch
    is padded to a multiple of 32 px and of the patch size.

    Args:
        encoder: Backbone with its feature pyramid.
        num_classes: Number of classes including the background.

    Returns:
        The detector.
    """
    backbone = ViTPDetectionBackbone(encoder)
    levels = len(DETECTION_STRIDES) + 1
    anchor_generator = AnchorGenerator(
        sizes=tuple((32 * 2**i,) for i in range(levels)),
        aspect_ratios=((0.5, 1.0, 2.0),) * levels,
    )
    roi_pooler = MultiScaleRoIAlign(
        featmap_names=[str(i) for i in range(len(DETECTION_STRIDES))],
        output_size=7,
        sampling_ratio=2,
    )
    model = FasterRCNN(
        backbone, num_classes, rpn_anchor_generator=anchor_generator, box_roi_pool=roi_pooler
    )
    model.transform = GeneralizedRCNNTransformNoOp()
    model.transform.size_divisible = math.lcm(32, *encoder.patch_size)
    return model
