"""TorchGeo datamodules: the real data under ``$VITP_DATA/rs``, raster folders, scenes.

Every ViTP trainer also works with TorchGeo's own datamodules (``EuroSATDataModule``,
``LoveDADataModule``, ``LEVIRCDDataModule``, ``VHR10DataModule``...).
"""

from vitp_torchgeo.datamodules.dubai import DubaiSegmentationDataModule
from vitp_torchgeo.datamodules.levircd_samples import LEVIRCDSamplesDataModule
from vitp_torchgeo.datamodules.rasters import (
    RasterChangeDetectionDataModule,
    RasterClassificationDataModule,
    RasterSegmentationDataModule,
)
from vitp_torchgeo.datamodules.rsscn7 import RSSCN7DataModule
from vitp_torchgeo.datamodules.scene import ScenePredictionDataModule

__all__ = [
    "DubaiSegmentationDataModule",
    "LEVIRCDSamplesDataModule",
    "RSSCN7DataModule",
    "RasterChangeDetectionDataModule",
    "RasterClassificationDataModule",
    "RasterSegmentationDataModule",
    "ScenePredictionDataModule",
]
