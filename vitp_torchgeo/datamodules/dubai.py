"""Dubai segmentation datamodule: fixed-size windows, ViTP normalisation, flips."""

from __future__ import annotations

from typing import Any

import kornia.augmentation as K
import torch
from torchgeo.datamodules import NonGeoDataModule

from vitp_torchgeo.bands import RGB_BANDS
from vitp_torchgeo.datasets import DubaiSegmentation
from vitp_torchgeo.datasets.spec import RasterInputSpec
from vitp_torchgeo.weights import IMAGENET_MEAN_255, IMAGENET_STD_255

__all__ = ["DubaiSegmentationDataModule"]


class DubaiSegmentationDataModule(NonGeoDataModule):
    """LightningDataModule for :class:`~vitp_torchgeo.datasets.DubaiSegmentation`."""

    mean = torch.tensor(IMAGENET_MEAN_255)
    std = torch.tensor(IMAGENET_STD_255)

    def __init__(
        self,
        batch_size: int = 8,
        num_workers: int = 0,
        tile_size: int = 256,
        root: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Initialize a new DubaiSegmentationDataModule.

        Args:
            batch_size: Size of each mini-batch.
            num_workers: Number of workers for parallel data loading.
            tile_size: Side of the square windows in pixels; a multiple of the patch size.
            root: Dataset folder; ``None`` means ``$VITP_DATA/rs/dubai``.
            **kwargs: :class:`~vitp_torchgeo.datasets.DubaiSegmentation` arguments
                .
        """
        super().__init__(
            DubaiSegmentation, batch_size, num_workers, root=root, tile_size=tile_size, **kwargs
        )
        self.train_aug = K.AugmentationSequential(
            K.Normalize(mean=self.mean, std=self.std),
            K.RandomHorizontalFlip(),
            K.RandomVerticalFlip(),
            data_keys=None,
            keepdim=True,
        )

    def input_spec(self) -> RasterInputSpec:
        """RGB bands, ImageNet statistics (0-255 pixels), the window size and the classes."""
        return RasterInputSpec(
            bands=list(RGB_BANDS),
            mean=self.mean.tolist(),
            std=self.std.tolist(),
            patch_size=int(self.kwargs["tile_size"]),
            classes=list(DubaiSegmentation.classes),
        )
