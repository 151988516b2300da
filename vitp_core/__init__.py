"""vitp_core: Visual insTruction Pretraining (ViTP) engine.

The core holds the backbone registry, the vision-language model, Visual Robustness
Learning (VRL), instruction data handling, Lightning training, export and the CLI.
It never imports an adapter package (``vitp_torchgeo``, ``vitp_monai``).

The names below are imported on first use, so that ``import vitp_core`` (and the
``vitp`` command's ``--help``) stays light; ``vitp_core.create_backbone`` and friends
work as usual, and importing :mod:`vitp_core.backbone` registers the ``vitp_*`` timm
models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_LAZY = {
    "VITP_MODEL_NAMES": "vitp_core.backbone",
    "create_backbone": "vitp_core.backbone",
    "BackboneMetadata": "vitp_core.export",
    "export_backbone": "vitp_core.export",
    "load_backbone": "vitp_core.export",
    "read_metadata": "vitp_core.export",
}

__all__ = [
    "VITP_MODEL_NAMES",
    "BackboneMetadata",
    "__version__",
    "create_backbone",
    "export_backbone",
    "load_backbone",
    "read_metadata",
]

if TYPE_CHECKING:
    from vitp_core.backbone import VITP_MODEL_NAMES, create_backbone
    from vitp_core.export import BackboneMetadata, export_backbone, load_backbone, read_metadata


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vitp_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
