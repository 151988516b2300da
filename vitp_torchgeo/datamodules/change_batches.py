"""Kornia augmentation of change-detection batches (two dates, one mask).

kornia 0.9's ``VideoSequential`` requires the mask to have one frame per date, which
TorchGeo 0.8.1's change batches (``image`` ``(B, T, C, H, W)``, ``mask`` ``(B, 1, H, W)``)
do not give. The mask is repeated over the dates for augmentation and reduced back to
``(B, 1, H, W)`` afterwards; both dates and the mask receive the same crop and flips.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["ChangeBatchAugmentation"]


class ChangeBatchAugmentation:
    """Mixin for a TorchGeo datamodule of change pairs (put it first in the bases)."""

    def on_after_batch_transfer(
        self, batch: dict[str, Tensor], dataloader_idx: int
    ) -> dict[str, Tensor]:
        """Augment a batch, giving the mask one frame per date for kornia.

        Args:
            batch: ``image`` of shape ``(B, T, C, H, W)``, ``mask`` of shape ``(B, 1, H, W)``.
            dataloader_idx: Index of the dataloader.

        Returns:
            The augmented batch, ``mask`` of shape ``(B, 1, h, w)``.
        """
        if "mask" not in batch:
            return super().on_after_batch_transfer(batch, dataloader_idx)  # type: ignore[misc]
        frames = batch["image"].shape[1]
        batch["mask"] = batch["mask"].expand(-1, frames, -1, -1).contiguous()
        batch = super().on_after_batch_transfer(batch, dataloader_idx)  # type: ignore[misc]
        batch["mask"] = batch["mask"][:, :1]
        return batch
