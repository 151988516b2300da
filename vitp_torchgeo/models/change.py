"""Binary (or multi-class) change detection with a siamese ViTP encoder.

Both dates go through the same :class:`ViTPyramidEncoder` (shared weights). At each
pyramid level the two maps are fused, either by concatenating ``[f1, f2, |f1 - f2|]``
and projecting back to the level width (``"concat"``), or by their absolute difference
alone (``"diff"``); the fused pyramid is decoded by the UPerNet head of
:class:`ViTPUPerNet`.
"""

from __future__ import annotations

from typing import Literal

import torch
from einops import rearrange
from timm.layers import LayerNorm2d
from torch import Tensor, nn

from vitp_torchgeo.models.feature_pyramid import ViTPyramidEncoder
from vitp_torchgeo.models.upernet import ViTPUPerNet

__all__ = ["ChangeFusion", "SiameseViTPChangeNet"]

ChangeFusion = Literal["concat", "diff"]


class _ConcatFusion(nn.Module):
    """``[f1, f2, |f1 - f2|]`` -> 1x1 conv -> LayerNorm -> GELU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.project = nn.Sequential(
            nn.Conv2d(3 * channels, channels, kernel_size=1, bias=False),
            LayerNorm2d(channels),
            nn.GELU(),
        )

    def forward(self, first: Tensor, second: Tensor) -> Tensor:
        return self.project(torch.cat([first, second, (first - second).abs()], dim=1))


class _DiffFusion(nn.Module):
    """``|f1 - f2|``."""

    def forward(self, first: Tensor, second: Tensor) -> Tensor:
        return (first - second).abs()


class SiameseViTPChangeNet(nn.Module):
    """Siamese ViTP encoder, per-level fusion of the two dates, UPerNet change head."""

    def __init__(
        self,
        encoder: ViTPyramidEncoder,
        num_classes: int = 1,
        fusion: ChangeFusion = "concat",
        decoder_channels: int = 256,
    ) -> None:
        """Initialize a new SiameseViTPChangeNet.

        Args:
            encoder: Backbone with feature pyramid, shared by both dates.
            num_classes: Output channels: 1 for binary change (logit), else classes.
            fusion: How the two dates are combined at each level.
            decoder_channels: Width of the UPerNet decoder.
        """
        super().__init__()
        width = encoder.out_channels
        self.segmenter = ViTPUPerNet(encoder, num_classes, decoder_channels)
        if fusion == "concat":
            self.fusions = nn.ModuleList(_ConcatFusion(width) for _ in encoder.pyramid.stages)
        elif fusion == "diff":
            self.fusions = nn.ModuleList(_DiffFusion() for _ in encoder.pyramid.stages)
        else:
            raise ValueError(f"fusion={fusion!r}; use 'concat' or 'diff'.")

    @property
    def encoder(self) -> ViTPyramidEncoder:
        """The shared encoder."""
        return self.segmenter.encoder

    def forward(self, x: Tensor) -> Tensor:
        """Predict change between two dates.

        Args:
            x: Image pairs, shape ``(B, 2, C, H, W)``, or ``(B, 2 * C, H, W)`` with the
                dates stacked along channels.

        Returns:
            Logits, shape ``(B, num_classes, H, W)``.
        """
        if x.ndim == 4:
            x = rearrange(x, "b (t c) h w -> b t c h w", t=2)
        if x.shape[1] != 2:
            raise ValueError(f"Expected 2 dates, got input of shape {tuple(x.shape)}.")
        batch = x.shape[0]
        features = self.encoder(rearrange(x, "b t c h w -> (b t) c h w"))
        fused = [
            fusion(level[:batch], level[batch:])
            for fusion, level in zip(
                self.fusions,
                (rearrange(f, "(b t) c h w -> (t b) c h w", t=2) for f in features),
                strict=True,
            )
        ]
        return self.segmenter.decode(fused, (x.shape[-2], x.shape[-1]))
