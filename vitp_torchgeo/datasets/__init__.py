"""Datasets: the real data under ``$VITP_DATA/rs``, rasters of any band count, scenes."""

from vitp_torchgeo.datasets.dubai import DubaiSegmentation
from vitp_torchgeo.datasets.levircd_samples import LEVIRCDSamples
from vitp_torchgeo.datasets.raster_folders import (
    RasterChangeDetectionDataset,
    RasterClassificationDataset,
    RasterSegmentationDataset,
)
from vitp_torchgeo.datasets.rasters import (
    MisregisteredPairError,
    RasterInputError,
    compute_band_statistics,
)
from vitp_torchgeo.datasets.root import VITP_DATA_ENV, resolve_root
from vitp_torchgeo.datasets.rsscn7 import RSSCN7
from vitp_torchgeo.datasets.spec import RasterInputSpec

__all__ = [
    "RSSCN7",
    "VITP_DATA_ENV",
    "DubaiSegmentation",
    "LEVIRCDSamples",
    "MisregisteredPairError",
    "RasterChangeDetectionDataset",
    "RasterClassificationDataset",
    "RasterInputError",
    "RasterInputSpec",
    "RasterSegmentationDataset",
    "compute_band_statistics",
    "resolve_root",
]
