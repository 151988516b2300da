"""ViTP models for TorchGeo: backbone builders and dense-prediction networks."""

from vitp_torchgeo.models.change import SiameseViTPChangeNet
from vitp_torchgeo.models.detection import ViTPDetectionBackbone, vitp_faster_rcnn
from vitp_torchgeo.models.feature_pyramid import (
    SimpleFeaturePyramid,
    ViTPyramidEncoder,
    default_out_indices,
)
from vitp_torchgeo.models.upernet import ViTPUPerNet
from vitp_torchgeo.models.vitp import (
    build_vitp,
    vitp_base_patch16_224,
    vitp_intern300m_patch14_448,
    vitp_large_patch16_224,
    vitp_small_patch16_224,
    vitp_tiny_patch16_224,
)

__all__ = [
    "SiameseViTPChangeNet",
    "SimpleFeaturePyramid",
    "ViTPDetectionBackbone",
    "ViTPUPerNet",
    "ViTPyramidEncoder",
    "build_vitp",
    "default_out_indices",
    "vitp_base_patch16_224",
    "vitp_faster_rcnn",
    "vitp_intern300m_patch14_448",
    "vitp_large_patch16_224",
    "vitp_small_patch16_224",
    "vitp_tiny_patch16_224",
]
