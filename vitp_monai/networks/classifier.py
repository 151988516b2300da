"""Image/volume classifier: a ViTP ViT with a linear head, for 2D and 3D inputs."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

from vitp_monai.networks.encoder import VitpEncoder
from vitp_monai.networks.input_checks import check_network_input
from vitp_monai.networks.padding import pad_to_multiple

__all__ = ["VitpClassifier"]


class VitpClassifier(nn.Module):
    """ViTP ViT + linear head for 2D images or 3D volumes.

    Inputs whose sides are not multiples of the patch size are zero-padded at their end;
    inputs smaller than one patch along an axis, with the wrong rank or channel count, or
    with NaN/Inf values are refused with a one-sentence ``ValueError``.

    Args:
        in_channels: Input channels.
        num_classes: Number of output logits.
        img_size: Reference input size (pixels/voxels); sets the stored position grid.
        backbone: ViTP/timm model name; ``None`` takes it from the export's sidecar.
        spatial_dims: 2 or 3.
        patch_size: Patch size per axis; default the backbone's.
        pool: ``"token"`` (class token) or ``"avg"`` (mean of patch tokens).
        dropout_rate: Dropout before the head.
        drop_path_rate: Stochastic depth of the backbone.
        backbone_kwargs: Further ``timm.create_model`` arguments.
        pretrained: Backbone weights (see :class:`~vitp_monai.networks.VitpEncoder`).
        pretrained_strict: Refuse weights that do not fit the backbone (default); ``False``
            loads what fits and reports the rest (``encoder.load_report``).
        verify_checksum: Check a vitp export against its sidecar's SHA-256.

    Examples::

        >>> net = VitpClassifier(1, 2, img_size=32, spatial_dims=3, patch_size=8)
        >>> net(torch.zeros(4, 1, 28, 28, 28)).shape
        torch.Size([4, 2])
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        img_size: int | Sequence[int],
        backbone: str | None = "vitp_tiny_patch16_224",
        *,
        spatial_dims: int = 2,
        patch_size: int | Sequence[int] | None = None,
        pool: Literal["token", "avg"] = "token",
        dropout_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        backbone_kwargs: Mapping[str, Any] | None = None,
        pretrained: str | os.PathLike[str] | None = None,
        pretrained_strict: bool = True,
        verify_checksum: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = VitpEncoder(
            backbone,
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            img_size=img_size,
            patch_size=patch_size,
            out_indices=[-1],
            drop_path_rate=drop_path_rate,
            backbone_kwargs=backbone_kwargs,
            pretrained=pretrained,
            pretrained_strict=pretrained_strict,
            verify_checksum=verify_checksum,
        )
        if pool not in ("token", "avg"):
            raise ValueError(f"pool must be 'token' or 'avg', got {pool!r}.")
        if pool == "token" and self.encoder.vit.cls_token is None:
            raise ValueError("pool='token' needs a backbone with a class token; use pool='avg'.")
        self.pool = pool
        self.in_channels = in_channels
        self.head_drop = nn.Dropout(dropout_rate)
        self.head = nn.Linear(self.encoder.embed_dim, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, embed_dim)`` of inputs ``(B, C, *spatial)``."""
        check_network_input(
            x,
            network=type(self).__name__,
            in_channels=self.in_channels,
            spatial_dims=self.encoder.spatial_dims,
            min_size=self.encoder.patch_size,
        )
        x = pad_to_multiple(x, self.encoder.patch_size)
        tokens = self.encoder.forward_tokens(x)
        if self.pool == "token":
            return tokens[:, 0]
        return tokens[:, self.encoder.num_prefix_tokens :].mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, num_classes)`` of inputs ``(B, C, *spatial)``."""
        return self.head(self.head_drop(self.forward_features(x)))
