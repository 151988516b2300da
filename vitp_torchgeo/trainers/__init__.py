"""TorchGeo trainers (LightningModules) with ViTP backbones.

Usable from YAML as ``class_path: vitp_torchgeo.trainers.ViTPClassificationTask`` (and
``ViTPSemanticSegmentationTask``, ``ViTPChangeDetectionTask``, ``ViTPObjectDetectionTask``).
"""

from vitp_torchgeo.trainers.change import ViTPChangeDetectionTask
from vitp_torchgeo.trainers.classification import ViTPClassificationTask
from vitp_torchgeo.trainers.detection import ViTPObjectDetectionTask
from vitp_torchgeo.trainers.segmentation import ViTPSemanticSegmentationTask

__all__ = [
    "ViTPChangeDetectionTask",
    "ViTPClassificationTask",
    "ViTPObjectDetectionTask",
    "ViTPSemanticSegmentationTask",
]
