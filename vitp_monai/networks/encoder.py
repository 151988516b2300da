"""ViTP ViT trunk for 2D images and 3D volumes that returns intermediate token maps."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from monai.utils import ensure_tuple_rep
from timm.layers import trunc_normal_
from timm.models.vision_transformer import VisionTransformer
from torch import nn
from torch.utils.checkpoint import checkpoint

from vitp_core.backbone import create_backbone
from vitp_monai.networks.inflation import resample_pos_embed_3d
from vitp_monai.networks.input_checks import check_input_layout
from vitp_monai.networks.patch_embed import PatchEmbed3d
from vitp_monai.networks.pretrained import LoadReport, load_backbone_weights, resolve_backbone

__all__ = ["VitpEncoder", "evenly_spaced_indices"]


def evenly_spaced_indices(depth: int, count: int) -> tuple[int, ...]:
    """Pick ``count`` block indices spread evenly over ``depth`` blocks, ending at the last.

    Args:
        depth: Number of transformer blocks.
        count: Number of taps.

    Returns:
        Block indices, e.g. ``(2, 5, 8, 11)`` for ``depth=12, count=4``.
    """
    if count < 1:
        raise ValueError(f"The number of taps must be >= 1, got {count}.")
    return tuple(max(0, round((i + 1) * depth / count) - 1) for i in range(count))


class VitpEncoder(nn.Module):
    """A ViTP (timm) ViT that embeds 2D or 3D inputs and returns tapped block outputs.

    For ``spatial_dims=2`` the timm model runs unchanged. For ``spatial_dims=3`` its
    patch embedding is replaced by a :class:`PatchEmbed3d` (``Conv3d`` at
    ``vit.patch_embed.proj``) and its position embedding by a 3D grid
    (``vit.pos_embed``); the transformer blocks are the same timm blocks, so a 2D ViTP
    export loads into the 3D encoder by inflation (see
    :mod:`vitp_monai.networks.inflation`). The module's state dict is the timm state dict
    under the prefix ``vit.``.

    Args:
        backbone: timm/ViTP model name, e.g. ``"vitp_small_patch16_224"`` (any size,
            patch 14 or 16). ``None`` takes the name from the sidecar of ``pretrained``.
        spatial_dims: 2 for images ``(B, C, H, W)``, 3 for volumes ``(B, C, H, W, D)``.
        in_channels: Input channels (pretrained kernels are adapted to it).
        img_size: Reference input size in pixels/voxels; sets the stored position grid.
            Other sizes (multiples of the patch size) work by resampling that grid.
        patch_size: Patch size per axis; default the backbone's (cubic in 3D).
        out_indices: Blocks whose outputs are returned: a sequence of indices (negative
            counts from the end), or a number of evenly spaced taps ending at the last block.
        drop_path_rate: Stochastic depth rate.
        backbone_kwargs: Further ``timm.create_model`` arguments (``depth``, ``embed_dim``...).
        pretrained: Weights to load: a vitp export (``.safetensors`` + ``.json`` sidecar),
            a timm/InternViT/MONAI-ViT state dict (``.safetensors``, ``.pt``, ``.pth``) or
            a Hugging Face Hub id ``hf-hub:org/repo[/file]``.
        pretrained_strict: Refuse ``pretrained`` weights that do not fit the backbone
            (missing, unexpected or unfittable tensors; a classification head in the
            file is the allowed exception). ``False`` loads what fits, with a report in
            :attr:`load_report` and a logged warning.
        verify_checksum: Check a vitp export against the SHA-256 of its sidecar (a
            sidecar without one is refused unless this is ``False``).
    """

    def __init__(
        self,
        backbone: str | None = "vitp_tiny_patch16_224",
        *,
        spatial_dims: int = 2,
        in_channels: int = 1,
        img_size: int | Sequence[int] = 224,
        patch_size: int | Sequence[int] | None = None,
        out_indices: int | Sequence[int] = 4,
        drop_path_rate: float = 0.0,
        backbone_kwargs: Mapping[str, Any] | None = None,
        pretrained: str | os.PathLike[str] | None = None,
        pretrained_strict: bool = True,
        verify_checksum: bool = True,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}.")
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.img_size = ensure_tuple_rep(img_size, spatial_dims)
        name, kwargs = resolve_backbone(backbone, backbone_kwargs, pretrained)
        if patch_size is not None:
            patch = ensure_tuple_rep(patch_size, spatial_dims)
            kwargs["patch_size"] = patch[:2] if patch[0] != patch[1] else patch[0]
        self.vit: VisionTransformer = create_backbone(
            name,
            in_chans=in_channels,
            img_size=self.img_size[:2],
            drop_path_rate=drop_path_rate,
            **kwargs,
        )
        plane_patch = tuple(self.vit.patch_embed.patch_size)
        if spatial_dims == 3:
            depth_patch = plane_patch[0] if patch_size is None else patch[2]
            self.patch_size: tuple[int, ...] = (*plane_patch, int(depth_patch))
            self._make_volumetric(in_channels)
        else:
            self.patch_size = plane_patch
        self.out_indices = self._resolve_indices(out_indices)
        self.load_report: LoadReport | None = None
        if pretrained is not None:
            self.load_report = self.load_pretrained(
                pretrained, strict=pretrained_strict, verify_checksum=verify_checksum
            )

    @property
    def embed_dim(self) -> int:
        """Token width ``C``."""
        return int(self.vit.embed_dim)

    @property
    def num_prefix_tokens(self) -> int:
        """Class and register tokens in front of the patch tokens."""
        return int(self.vit.num_prefix_tokens)

    @property
    def depth(self) -> int:
        """Number of transformer blocks."""
        return len(self.vit.blocks)

    def _make_volumetric(self, in_channels: int) -> None:
        """Swap in a Conv3d patch embedding and a 3D position grid (randomly initialised)."""
        self.vit.patch_embed = PatchEmbed3d(
            in_channels, self.embed_dim, self.patch_size, self.img_size
        )
        prefix = 0 if self.vit.no_embed_class else self.num_prefix_tokens
        num_tokens = prefix + self.vit.patch_embed.num_patches
        self.vit.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, self.embed_dim))
        trunc_normal_(self.vit.pos_embed, std=0.02)

    def _resolve_indices(self, out_indices: int | Sequence[int]) -> tuple[int, ...]:
        if isinstance(out_indices, int):
            return evenly_spaced_indices(self.depth, out_indices)
        resolved = tuple(int(i) + self.depth if int(i) < 0 else int(i) for i in out_indices)
        bad = [i for i in resolved if not 0 <= i < self.depth]
        if bad or not resolved:
            raise ValueError(
                f"out_indices {tuple(out_indices)} must be non-empty block indices in "
                f"[-{self.depth}, {self.depth}) for a backbone of depth {self.depth}."
            )
        return resolved

    def load_pretrained(
        self, source: str | os.PathLike[str], strict: bool = True, verify_checksum: bool = True
    ) -> LoadReport:
        """Load backbone weights into :attr:`vit`, adapting channels, patch and grid.

        Args:
            source: See the ``pretrained`` argument of the class.
            strict: Refuse weights that do not fit (see ``pretrained_strict``); nothing
                is loaded then.
            verify_checksum: Check a vitp export against its sidecar's SHA-256.

        Returns:
            What was loaded, adapted, missing and unexpected.

        Raises:
            vitp_monai.networks.pretrained.PretrainedWeightsMismatchError: With
                ``strict`` and weights that do not fit.
        """
        return load_backbone_weights(self, source, strict=strict, verify_checksum=verify_checksum)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute block activations in the backward pass to save memory."""
        self.vit.set_grad_checkpointing(enable)

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
        """Patch-embed, add positions and prepend prefix tokens.

        Args:
            x: ``(B, C, *spatial)``; each spatial size a multiple of the patch size.

        Returns:
            Tokens ``(B, num_prefix_tokens + N, C)`` and the token grid (``N = prod(grid)``).
        """
        check_input_layout(
            x,
            network=type(self).__name__,
            in_channels=self.in_channels,
            spatial_dims=self.spatial_dims,
        )
        tokens = self.vit.patch_embed(x)
        grid = tuple(tokens.shape[1:-1])
        if self.spatial_dims == 2:
            tokens = self.vit._pos_embed(tokens)
        else:
            tokens = self._pos_embed_3d(tokens)
        tokens = self.vit.patch_drop(tokens)
        return self.vit.norm_pre(tokens), grid

    def _pos_embed_3d(self, tokens: torch.Tensor) -> torch.Tensor:
        """The 3D counterpart of timm's ``VisionTransformer._pos_embed``."""
        batch, *grid, channels = tokens.shape
        no_embed_class = self.vit.no_embed_class
        pos_embed = resample_pos_embed_3d(
            self.vit.pos_embed,
            new_grid=grid,
            old_grid=self.vit.patch_embed.grid_size,
            num_prefix_tokens=0 if no_embed_class else self.num_prefix_tokens,
        )
        tokens = tokens.reshape(batch, -1, channels)
        prefix = [
            t.expand(batch, -1, -1)
            for t in (self.vit.cls_token, self.vit.reg_token)
            if t is not None
        ]
        if no_embed_class:
            tokens = torch.cat([*prefix, tokens + pos_embed], dim=1)
        else:
            tokens = torch.cat([*prefix, tokens], dim=1) + pos_embed
        return self.vit.pos_drop(tokens)

    def _run_blocks(self, tokens: torch.Tensor, last: int) -> dict[int, torch.Tensor]:
        """Run blocks ``0..last`` and keep the outputs of the tapped ones."""
        taps: dict[int, torch.Tensor] = {}
        wanted = set(self.out_indices)
        use_checkpoint = self.vit.grad_checkpointing and torch.is_grad_enabled()
        for index, block in enumerate(self.vit.blocks[: last + 1]):
            if use_checkpoint:
                tokens = checkpoint(block, tokens, use_reentrant=False)
            else:
                tokens = block(tokens)
            if index in wanted:
                taps[index] = tokens
        return taps

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return the tapped block outputs as feature maps.

        Args:
            x: ``(B, C, *spatial)``, each spatial size a multiple of :attr:`patch_size`.

        Returns:
            One map per entry of :attr:`out_indices`, each ``(B, embed_dim, *grid)`` with
            ``grid = spatial // patch_size``. The last map goes through the backbone's final
            norm (as ``monai.networks.nets.UNETR`` does with its bottleneck).
        """
        tokens, grid = self.embed(x)
        taps = self._run_blocks(tokens, last=max(self.out_indices))
        maps = []
        for position, index in enumerate(self.out_indices):
            feat = taps[index]
            if position == len(self.out_indices) - 1:
                feat = self.vit.norm(feat)
            maps.append(self._to_map(feat, grid))
        return maps

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Run every block and the final norm.

        Args:
            x: ``(B, C, *spatial)``, each spatial size a multiple of :attr:`patch_size`.

        Returns:
            All tokens ``(B, num_prefix_tokens + N, embed_dim)``.
        """
        tokens, _ = self.embed(x)
        tokens = self._run_all(tokens)
        return self.vit.norm(tokens)

    def _run_all(self, tokens: torch.Tensor) -> torch.Tensor:
        use_checkpoint = self.vit.grad_checkpointing and torch.is_grad_enabled()
        for block in self.vit.blocks:
            tokens = (
                checkpoint(block, tokens, use_reentrant=False) if use_checkpoint else block(tokens)
            )
        return tokens

    def _to_map(self, tokens: torch.Tensor, grid: Sequence[int]) -> torch.Tensor:
        """Drop prefix tokens and reshape ``(B, P + N, C)`` to ``(B, C, *grid)``."""
        patches = tokens[:, self.num_prefix_tokens :]
        batch, _, channels = patches.shape
        spatial = patches.reshape(batch, *grid, channels)
        return spatial.movedim(-1, 1).contiguous()
