"""Semantic segmentation with a ViTP backbone: simple feature pyramid + UPerNet.

The decoder is segmentation-models-pytorch's :class:`UPerNetDecoder` (PPM on the
coarsest level, FPN fusion of all four), fed by :class:`ViTPyramidEncoder`; a 1x1
convolution predicts the classes at stride ``p/4`` and the logits are resized to the
input size.
"""

from __future__ import annotations

import torch.nn.functional as F
from segmentation_models_pytorch.decoders.upernet.decoder import UPerNetDecoder
from torch import Tensor, nn

from vitp_torchgeo.models.feature_pyramid import ViTPyramidEncoder

__all__ = ["ViTPUPerNet"]


class ViTPUPerNet(nn.Module):
    """ViTP + simple feature pyramid + UPerNet head, for per-pixel classification."""

    def __init__(
        self,
        encoder: ViTPyramidEncoder,
        num_classes: int,
        decoder_channels: int = 256,
    ) -> None:
        """Initialize a new ViTPUPerNet.

        Args:
            encoder: Backbone with its feature pyramid.
            num_classes: Number of output channels (classes, or 1 for binary).
            decoder_channels: Width of the UPerNet decoder.
        """
        super().__init__()
        self.encoder = encoder
        width = encoder.out_channels
        # smp decoders take [input, stride 2, stride 4, 8, 16, 32] and skip the first two.
        self.decoder = UPerNetDecoder(
            encoder_channels=[0, 0, width, width, width, width],
            encoder_depth=5,
            decoder_channels=decoder_channels,
        )
        self.segmentation_head = nn.Conv2d(decoder_channels, num_classes, kernel_size=1)

    def decode(self, features: list[Tensor], size: tuple[int, int]) -> Tensor:
        """Logits from the four pyramid levels, resized to ``size`` ``(H, W)``."""
        fused = self.decoder([features[0], features[0], *features])
        logits = self.segmentation_head(fused)
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)

    def forward(self, x: Tensor) -> Tensor:
        """Segment images.

        Args:
            x: Images, shape ``(B, C, H, W)``, sides multiples of the patch size.

        Returns:
            Logits, shape ``(B, num_classes, H, W)``.
        """
        return self.decode(self.encoder(x), (x.shape[-2], x.shape[-1]))
