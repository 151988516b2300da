"""The vision-language model that ViTP pretrains the ViT inside."""

from vitp_core.vlm.model import VisualBatch, ViTPModel
from vitp_core.vlm.pixel_shuffle import pixel_shuffle, pixel_shuffle_index
from vitp_core.vlm.projector import VisualProjector
from vitp_core.vlm.vrl import VRLConfig

__all__ = [
    "VRLConfig",
    "ViTPModel",
    "VisualBatch",
    "VisualProjector",
    "pixel_shuffle",
    "pixel_shuffle_index",
]
