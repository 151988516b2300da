"""Multi-scale features from a plain ViT: the simple feature pyramid of ViTDet.

A plain ViT has a single stride (its patch size ``p``). Following ViTDet (Li et al.,
ECCV 2022, https://arxiv.org/abs/2203.16527), the patch-grid features of chosen blocks
are rescaled by transposed convolutions and max pooling to strides ``p/4``, ``p/2``,
``p`` and ``2p`` (4, 8, 16 and 32 px for ``p = 16``), then projected to a common width.
With one block the four levels all come from it (ViTDet); with four blocks each level
takes its own (BEiT/ViT-Adapter-style UPerNet).
"""

from __future__ import annotations

from collections.abc import Sequence

from timm.layers import LayerNorm2d
from timm.models.vision_transformer import VisionTransformer
from torch import Tensor, nn

__all__ = ["PYRAMID_SCALES", "SimpleFeaturePyramid", "ViTPyramidEncoder", "default_out_indices"]

#: Scale of each pyramid level relative to the patch grid (stride ``p / scale``).
PYRAMID_SCALES: tuple[float, ...] = (4.0, 2.0, 1.0, 0.5)


def default_out_indices(depth: int) -> list[int]:
    """Blocks that feed the pyramid: four evenly spaced ones, or the last when depth < 4."""
    if depth < len(PYRAMID_SCALES):
        return [depth - 1]
    return [depth * (i + 1) // len(PYRAMID_SCALES) - 1 for i in range(len(PYRAMID_SCALES))]


def _rescale(scale: float, channels: int) -> tuple[nn.Module, int]:
    """ViTDet's resampling for one level; returns the module and its output width."""
    if scale == 4.0:
        half, quarter = channels // 2, channels // 4
        layers = nn.Sequential(
            nn.ConvTranspose2d(channels, half, kernel_size=2, stride=2),
            LayerNorm2d(half),
            nn.GELU(),
            nn.ConvTranspose2d(half, quarter, kernel_size=2, stride=2),
        )
        return layers, quarter
    if scale == 2.0:
        return nn.ConvTranspose2d(channels, channels // 2, kernel_size=2, stride=2), channels // 2
    if scale == 1.0:
        return nn.Identity(), channels
    if scale == 0.5:
        return nn.MaxPool2d(kernel_size=2, stride=2), channels
    raise ValueError(f"Unsupported pyramid scale {scale}; use one of {PYRAMID_SCALES}.")


class SimpleFeaturePyramid(nn.Module):
    """ViTDet simple feature pyramid: one patch-grid map per level -> four scales."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 256,
        scales: Sequence[float] = PYRAMID_SCALES,
    ) -> None:
        """Initialize a new SimpleFeaturePyramid.

        Args:
            in_channels: Width ``D`` of the ViT tokens.
            out_channels: Width of every output level.
            scales: Scale of each level relative to the patch grid.
        """
        super().__init__()
        self.scales = tuple(scales)
        self.out_channels = out_channels
        stages = []
        for scale in self.scales:
            rescale, width = _rescale(scale, in_channels)
            stages.append(
                nn.Sequential(
                    rescale,
                    nn.Conv2d(width, out_channels, kernel_size=1, bias=False),
                    LayerNorm2d(out_channels),
                    nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
                    LayerNorm2d(out_channels),
                )
            )
        self.stages = nn.ModuleList(stages)

    def forward(self, features: Sequence[Tensor]) -> list[Tensor]:
        """Build the pyramid.

        Args:
            features: One map per level, or a single map for all levels; each of shape
                ``(B, D, h, w)`` on the patch grid.

        Returns:
            One map per level, shape ``(B, out_channels, h * s, w * s)`` for scale ``s``
            (``floor`` for ``s = 0.5``).
        """
        if len(features) == 1:
            features = list(features) * len(self.stages)
        if len(features) != len(self.stages):
            raise ValueError(f"Expected 1 or {len(self.stages)} feature maps, got {len(features)}.")
        return [stage(f) for stage, f in zip(self.stages, features, strict=True)]


class ViTPyramidEncoder(nn.Module):
    """A timm ViT followed by a simple feature pyramid: image -> four feature maps."""

    def __init__(
        self,
        vit: VisionTransformer,
        out_indices: Sequence[int] | None = None,
        out_channels: int = 256,
    ) -> None:
        """Initialize a new ViTPyramidEncoder.

        Args:
            vit: The backbone (any ``in_chans``; ``dynamic_img_size`` for free input sizes).
            out_indices: Blocks that feed the pyramid, 1 or 4 of them, increasing;
                negative values count from the end. Default: :func:`default_out_indices`.
            out_channels: Width of every pyramid level.
        """
        super().__init__()
        depth = len(vit.blocks)
        indices = list(out_indices) if out_indices is not None else default_out_indices(depth)
        indices = [i % depth if -depth <= i < depth else i for i in indices]
        if len(indices) not in (1, len(PYRAMID_SCALES)) or any(not 0 <= i < depth for i in indices):
            raise ValueError(
                f"out_indices={list(out_indices or [])} must name 1 or 4 blocks of the "
                f"{depth}-block backbone."
            )
        if indices != sorted(set(indices)):
            raise ValueError(f"out_indices={indices} must be strictly increasing.")
        self.vit = vit
        self.out_indices = indices
        self.patch_size = vit.patch_embed.patch_size
        self.pyramid = SimpleFeaturePyramid(vit.embed_dim, out_channels)
        self.out_channels = out_channels

    @property
    def strides(self) -> list[float]:
        """Stride in pixels of each output level (``p / scale``)."""
        return [self.patch_size[0] / scale for scale in self.pyramid.scales]

    def forward(self, x: Tensor) -> list[Tensor]:
        """Encode images.

        Args:
            x: Images, shape ``(B, C, H, W)`` with ``H`` and ``W`` multiples of the patch size.

        Returns:
            Four maps, shape ``(B, out_channels, H / s_i, W / s_i)`` for strides ``s_i``.
        """
        height, width = x.shape[-2:]
        ph, pw = self.patch_size
        if height % ph or width % pw:
            raise ValueError(
                f"Input size {height}x{width} px is not a multiple of the patch size {ph}x{pw}; "
                "crop, pad or resize the images (e.g. the datamodule's patch_size)."
            )
        features = self.vit.forward_intermediates(
            x,
            indices=self.out_indices,
            intermediates_only=True,
            stop_early=True,
            output_fmt="NCHW",
        )
        return self.pyramid(features)
