"""Volumetric patch embedding with timm's attribute names (``proj``) and output layout."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["PatchEmbed3d"]


class PatchEmbed3d(nn.Module):
    """Split a volume into non-overlapping 3D patches and embed each one.

    Mirrors timm's ``PatchEmbed`` with ``output_fmt="NHWC"`` (what ViTP backbones use
    with ``dynamic_img_size``): the kernel lives at ``proj`` so a 2D timm state dict maps
    onto it key for key once the kernel is inflated
    (:func:`vitp_monai.networks.inflation.inflate_patch_kernel`).

    Args:
        in_chans: Input channels.
        embed_dim: Token width.
        patch_size: Patch size ``(p_h, p_w, p_d)`` in voxels.
        img_size: Reference volume size ``(H, W, D)`` in voxels; sets :attr:`grid_size`,
            the grid of the stored position embedding.
    """

    def __init__(
        self,
        in_chans: int,
        embed_dim: int,
        patch_size: Sequence[int],
        img_size: Sequence[int],
    ) -> None:
        super().__init__()
        self.patch_size = tuple(int(p) for p in patch_size)
        self.img_size = tuple(int(s) for s in img_size)
        if len(self.patch_size) != 3 or len(self.img_size) != 3:
            raise ValueError(
                "PatchEmbed3d needs 3 patch and image sizes, got "
                f"{self.patch_size} and {self.img_size}."
            )
        self.grid_size = tuple(s // p for s, p in zip(self.img_size, self.patch_size, strict=True))
        self.num_patches = self.grid_size[0] * self.grid_size[1] * self.grid_size[2]
        self.proj = nn.Conv3d(
            in_chans, embed_dim, kernel_size=self.patch_size, stride=self.patch_size
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed patches.

        Args:
            x: Volumes ``(B, C, H, W, D)``, each side a multiple of the patch size.

        Returns:
            Tokens ``(B, g_h, g_w, g_d, embed_dim)``.
        """
        for axis, (size, patch) in enumerate(zip(x.shape[2:], self.patch_size, strict=True)):
            if size % patch:
                raise ValueError(
                    f"Input spatial axis {axis} has size {size}, not a multiple of the patch size "
                    f"{patch}; pad the input (e.g. monai.transforms.DivisiblePad) first."
                )
        return self.proj(x).permute(0, 2, 3, 4, 1)
