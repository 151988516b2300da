"""vitp_core: Visual insTruction Pretraining (ViTP) engine.

The core holds the backbone registry, the vision-language model, Visual Robustness
Learning (VRL), instruction data handling, Lightning training, export and the CLI.
It never imports an adapter package (``vitp_torchgeo``, ``vitp_monai``).
"""

from vitp_core.backbone import VITP_MODEL_NAMES, create_backbone
from vitp_core.export import BackboneMetadata, export_backbone, load_backbone, read_metadata

__version__ = "0.1.0"

__all__ = [
    "VITP_MODEL_NAMES",
    "BackboneMetadata",
    "__version__",
    "create_backbone",
    "export_backbone",
    "load_backbone",
    "read_metadata",
]
