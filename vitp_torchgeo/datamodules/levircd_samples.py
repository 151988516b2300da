"""Datamodule of the LEVIR-CD sample pairs, with TorchGeo's LEVIR-CD augmentations."""

from __future__ import annotations

from typing import Any

import kornia.augmentation as K
import torch
from torch import Tensor
from torchgeo.datamodules import NonGeoDataModule
from torchgeo.samplers.utils import _to_tuple

from vitp_torchgeo.datasets import LEVIRCDSamples
from vitp_torchgeo.weights import IMAGENET_MEAN_255, IMAGENET_STD_255

__all__ = ["LEVIRCDSamplesDataModule"]


class LEVIRCDSamplesDataModule(NonGeoDataModule):
    """LightningDataModule for :class:`~vitp_torchgeo.datasets.LEVIRCDSamples`.

    Mirrors :class:`torchgeo.datamodules.LEVIRCDDataModule` (random crops for training,
    centre crops otherwise, applied to both dates alike), adds flips, and normalises
    with ImageNet statistics as the ViTP release expects.

    kornia 0.9's ``VideoSequential`` requires the mask to have one frame per date, which
    TorchGeo 0.8.1's LEVIR-CD pipeline (mask ``(B, 1, H, W)``) does not give; the mask is
    therefore repeated over the dates for augmentation and reduced back to
    ``(B, 1, H, W)`` afterwards (both dates receive the same crop and flips).
    """

    mean = torch.tensor(IMAGENET_MEAN_255)
    std = torch.tensor(IMAGENET_STD_255)

    def __init__(
        self,
        batch_size: int = 4,
        patch_size: tuple[int, int] | int = 256,
        num_workers: int = 0,
        root: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Initialize a new LEVIRCDSamplesDataModule.

        Args:
            batch_size: Size of each mini-batch.
            patch_size: Crop size ``size`` or ``(height, width)`` in pixels; a multiple of
                the patch size of the backbone.
            num_workers: Number of workers for parallel data loading.
            root: Dataset folder; ``None`` means ``$VITP_DATA/rs/levir_cd_samples``.
            **kwargs: :class:`~vitp_torchgeo.datasets.LEVIRCDSamples` arguments.
        """
        super().__init__(LEVIRCDSamples, batch_size, num_workers, root=root, **kwargs)
        self.patch_size = _to_tuple(patch_size)
        self.train_aug = K.AugmentationSequential(
            K.VideoSequential(
                K.Normalize(mean=self.mean, std=self.std),
                K.RandomCrop(self.patch_size, pad_if_needed=True),
                K.RandomHorizontalFlip(),
                K.RandomVerticalFlip(),
            ),
            data_keys=None,
            keepdim=True,
        )
        self.aug = K.AugmentationSequential(
            K.VideoSequential(
                K.Normalize(mean=self.mean, std=self.std), K.CenterCrop(self.patch_size)
            ),
            data_keys=None,
            keepdim=True,
            same_on_batch=True,
        )

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
        frames = batch["image"].shape[1]
        batch["mask"] = batch["mask"].expand(-1, frames, -1, -1).contiguous()
        batch = super().on_after_batch_transfer(batch, dataloader_idx)
        batch["mask"] = batch["mask"][:, :1]
        return batch
