"""Datasets for the real data under ``$VITP_DATA/rs`` (TorchGeo ``NonGeoDataset`` style)."""

from vitp_torchgeo.datasets.dubai import DubaiSegmentation
from vitp_torchgeo.datasets.levircd_samples import LEVIRCDSamples
from vitp_torchgeo.datasets.root import VITP_DATA_ENV, resolve_root
from vitp_torchgeo.datasets.rsscn7 import RSSCN7

__all__ = ["RSSCN7", "VITP_DATA_ENV", "DubaiSegmentation", "LEVIRCDSamples", "resolve_root"]
