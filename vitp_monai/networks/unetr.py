"""UNETR-style segmentation network over a ViTP ViT, for 2D and 3D inputs."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from monai.networks.blocks.dynunet_block import UnetOutBlock
from monai.networks.blocks.unetr_block import UnetrBasicBlock, UnetrPrUpBlock, UnetrUpBlock
from torch import nn

from vitp_monai.networks.encoder import VitpEncoder
from vitp_monai.networks.input_checks import check_network_input
from vitp_monai.networks.padding import crop_to, pad_to_multiple

__all__ = ["VitpUNETR"]

#: Spatial stride of the UNETR decoder: four x2 up-samplings from the token grid.
DECODER_STRIDE = 16


class VitpUNETR(nn.Module):
    """UNETR (Hatamizadeh et al., 2022) with a ViTP backbone and configurable taps.

    The decoder is MONAI's (``UnetrBasicBlock``, ``UnetrPrUpBlock``, ``UnetrUpBlock``,
    ``UnetOutBlock``), wired as in ``monai.networks.nets.UNETR``; the encoder is any ViTP
    ViT (tiny to large, patch 14 or 16) with four taps ``out_indices`` instead of
    UNETR's fixed blocks 3/6/9/12: the first three feed the skip paths at strides 2, 4
    and 8, the last (after the backbone's final norm) is the bottleneck at stride 16.

    Inputs of any size of at least 16 per axis work: they are zero-padded to a multiple of
    16 and the output is cropped back (smaller inputs, a wrong rank or channel count and
    NaN/Inf values are refused with a one-sentence ``ValueError``). For a patch size other
    than 16 (e.g. 14) the ViT branch sees the padded input resized by ``patch / 16`` so
    that its token grid still lands at stride 16; the convolutional skip path sees the
    input unchanged.

    Args:
        in_channels: Input channels.
        out_channels: Output channels (classes, background included).
        img_size: Reference input size (pixels/voxels), e.g. the training ROI.
        backbone: ViTP/timm model name; ``None`` takes it from the export's sidecar.
        spatial_dims: 2 or 3.
        patch_size: Patch size per axis; default the backbone's.
        out_indices: Four block indices, or ``4`` for four evenly spaced blocks ending at
            the last one (``(2, 5, 8, 11)`` for 12 blocks).
        feature_size: Width of the first decoder stage (as in MONAI's UNETR).
        norm_name: Decoder normalisation (MONAI name, e.g. ``"instance"``, ``"batch"``).
        conv_block: Use convolutional blocks in the skip up-sampling paths.
        res_block: Use residual blocks.
        drop_path_rate: Stochastic depth of the backbone.
        backbone_kwargs: Further ``timm.create_model`` arguments.
        pretrained: Backbone weights: vitp export path, timm/MONAI state dict or
            ``hf-hub:`` id (see :class:`~vitp_monai.networks.VitpEncoder`).
        pretrained_strict: Refuse weights that do not fit the backbone (default); ``False``
            loads what fits and reports the rest (``encoder.load_report``).
        verify_checksum: Check a vitp export against its sidecar's SHA-256.

    Examples::

        >>> net = VitpUNETR(1, 3, img_size=(32, 48, 32), backbone="vitp_tiny_patch16_224")
        >>> net(torch.zeros(1, 1, 35, 51, 35)).shape
        torch.Size([1, 3, 35, 51, 35])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        img_size: int | Sequence[int],
        backbone: str | None = "vitp_tiny_patch16_224",
        *,
        spatial_dims: int = 3,
        patch_size: int | Sequence[int] | None = None,
        out_indices: int | Sequence[int] = 4,
        feature_size: int = 16,
        norm_name: tuple | str = "instance",
        conv_block: bool = True,
        res_block: bool = True,
        drop_path_rate: float = 0.0,
        backbone_kwargs: Mapping[str, Any] | None = None,
        pretrained: str | os.PathLike[str] | None = None,
        pretrained_strict: bool = True,
        verify_checksum: bool = True,
    ) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.encoder = VitpEncoder(
            backbone,
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            img_size=img_size,
            patch_size=patch_size,
            out_indices=out_indices,
            drop_path_rate=drop_path_rate,
            backbone_kwargs=backbone_kwargs,
            pretrained=pretrained,
            pretrained_strict=pretrained_strict,
            verify_checksum=verify_checksum,
        )
        if len(self.encoder.out_indices) != 4:
            raise ValueError(
                f"VitpUNETR needs exactly 4 taps (3 skips + bottleneck), got out_indices="
                f"{self.encoder.out_indices}."
            )
        hidden = self.encoder.embed_dim
        common = {"spatial_dims": spatial_dims, "norm_name": norm_name, "res_block": res_block}
        self.encoder1 = UnetrBasicBlock(
            in_channels=in_channels, out_channels=feature_size, kernel_size=3, stride=1, **common
        )
        self.encoder2, self.encoder3, self.encoder4 = (
            UnetrPrUpBlock(
                in_channels=hidden,
                out_channels=feature_size * width,
                num_layer=num_layer,
                kernel_size=3,
                stride=1,
                upsample_kernel_size=2,
                conv_block=conv_block,
                **common,
            )
            for width, num_layer in ((2, 2), (4, 1), (8, 0))
        )
        self.decoder5, self.decoder4, self.decoder3, self.decoder2 = (
            UnetrUpBlock(
                in_channels=c_in,
                out_channels=c_out,
                kernel_size=3,
                upsample_kernel_size=2,
                **common,
            )
            for c_in, c_out in (
                (hidden, feature_size * 8),
                (feature_size * 8, feature_size * 4),
                (feature_size * 4, feature_size * 2),
                (feature_size * 2, feature_size),
            )
        )
        self.out = UnetOutBlock(
            spatial_dims=spatial_dims, in_channels=feature_size, out_channels=out_channels
        )

    def _encoder_input(self, x: torch.Tensor) -> torch.Tensor:
        """Resize ``x`` so the ViT token grid is ``x``'s size / 16 (identity for patch 16)."""
        grid = [size // DECODER_STRIDE for size in x.shape[2:]]
        size = [g * p for g, p in zip(grid, self.encoder.patch_size, strict=True)]
        if list(x.shape[2:]) == size:
            return x
        mode = "bilinear" if self.spatial_dims == 2 else "trilinear"
        return F.interpolate(x, size=size, mode=mode, align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Segment.

        Args:
            x: ``(B, in_channels, *spatial)``, at least 16 per spatial axis.

        Returns:
            Logits ``(B, out_channels, *spatial)``.
        """
        check_network_input(
            x,
            network=type(self).__name__,
            in_channels=self.in_channels,
            spatial_dims=self.spatial_dims,
            min_size=[DECODER_STRIDE] * self.spatial_dims,
        )
        spatial = x.shape[2:]
        x = pad_to_multiple(x, [DECODER_STRIDE] * self.spatial_dims)
        skip2, skip3, skip4, bottleneck = self.encoder(self._encoder_input(x))
        enc1 = self.encoder1(x)
        enc2 = self.encoder2(skip2)
        enc3 = self.encoder3(skip3)
        enc4 = self.encoder4(skip4)
        dec3 = self.decoder5(bottleneck, enc4)
        dec2 = self.decoder4(dec3, enc3)
        dec1 = self.decoder3(dec2, enc2)
        out = self.decoder2(dec1, enc1)
        return crop_to(self.out(out), spatial)
