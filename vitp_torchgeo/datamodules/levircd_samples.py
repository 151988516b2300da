"""Datamodule of the LEVIR-CD sample pairs, with TorchGeo's LEVIR-CD augmentations."""

from __future__ import annotations

from typing import Any

import kornia.augmentation as K
import torch
from torchgeo.datamodules import NonGeoDataModule
from torchgeo.samplers.utils import _to_tuple

from vitp_torchgeo.bands import RGB_BANDS
from vitp_torchgeo.datamodules.change_batches import ChangeBatchAugmentation
from vitp_torchgeo.datasets import LEVIRCDSamples
from vitp_torchgeo.datasets.spec import RasterInputSpec
from vitp_torchgeo.weights import IMAGENET_MEAN_255, IMAGENET_STD_255

__all__ = ["LEVIRCDSamplesDataModule"]


class LEVIRCDSamplesDataModule(ChangeBatchAugmentation, NonGeoDataModule):
    """LightningDataModule for :class:`~vitp_torchgeo.datasets.LEVIRCDSamples`.

    Mirrors :class:`torchgeo.datamodules.LEVIRCDDataModule` (random crops for training,
    centre crops otherwise, applied to both dates alike), adds flips, and normalises
    with ImageNet statistics as the ViTP release expects (the mask handling for kornia
    is :class:`~vitp_torchgeo.datamodules.change_batches.ChangeBatchAugmentation`'s).
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

    def input_spec(self) -> RasterInputSpec:
        """RGB bands, ImageNet statistics (0-255 pixels) and the crop size."""
        return RasterInputSpec(
            bands=list(RGB_BANDS),
            mean=self.mean.tolist(),
            std=self.std.tolist(),
            patch_size=self.patch_size[0],
            classes=["no change", "change"],
        )
