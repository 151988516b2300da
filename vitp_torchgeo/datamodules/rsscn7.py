"""RSSCN7 datamodule: ViTP normalisation, flips for training, optional resizing."""

from __future__ import annotations

from typing import Any

import kornia.augmentation as K
import torch
from torchgeo.datamodules import NonGeoDataModule

from vitp_torchgeo.bands import RGB_BANDS
from vitp_torchgeo.datasets import RSSCN7
from vitp_torchgeo.datasets.spec import RasterInputSpec
from vitp_torchgeo.weights import IMAGENET_MEAN_255, IMAGENET_STD_255

__all__ = ["RSSCN7DataModule"]

#: Side of the RSSCN7 scenes as shipped (px).
RSSCN7_SIZE = 128


class RSSCN7DataModule(NonGeoDataModule):
    """LightningDataModule for :class:`~vitp_torchgeo.datasets.RSSCN7`.

    Pixels (0-255) are normalised with ImageNet statistics, as the ViTP release expects.
    """

    mean = torch.tensor(IMAGENET_MEAN_255)
    std = torch.tensor(IMAGENET_STD_255)

    def __init__(
        self,
        batch_size: int = 32,
        num_workers: int = 0,
        image_size: int | None = None,
        root: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Initialize a new RSSCN7DataModule.

        Args:
            batch_size: Size of each mini-batch.
            num_workers: Number of workers for parallel data loading.
            image_size: Resize the 128 px scenes to this side (a multiple of the patch
                size, e.g. 224 or 448 for patch 14); ``None`` keeps 128.
            root: Dataset folder; ``None`` means ``$VITP_DATA/rs/rsscn7``.
            **kwargs: :class:`~vitp_torchgeo.datasets.RSSCN7` arguments.
        """
        super().__init__(RSSCN7, batch_size, num_workers, root=root, **kwargs)
        self.image_size = image_size
        resize = [K.Resize((image_size, image_size))] if image_size else []
        self.train_aug = K.AugmentationSequential(
            K.Normalize(mean=self.mean, std=self.std),
            *resize,
            K.RandomHorizontalFlip(),
            K.RandomVerticalFlip(),
            data_keys=None,
            keepdim=True,
        )
        self.aug = K.AugmentationSequential(
            K.Normalize(mean=self.mean, std=self.std), *resize, data_keys=None, keepdim=True
        )

    def input_spec(self) -> RasterInputSpec:
        """RGB bands, ImageNet statistics (0-255 pixels), the scene size and the classes."""
        return RasterInputSpec(
            bands=list(RGB_BANDS),
            mean=self.mean.tolist(),
            std=self.std.tolist(),
            patch_size=self.image_size or RSSCN7_SIZE,
            classes=list(RSSCN7.classes),
        )
