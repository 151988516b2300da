"""Interoperability with official checkpoints: InternViT / ViTP backbones and InternVL2.5 VLMs.

Submodules:
    state_io   Read safetensors (single or sharded) and ``weights_only`` PyTorch files.
    internvit  InternViT key layout <-> timm ``VisionTransformer`` (both directions).
"""

from vitp_core.checkpoints.internvit import (
    internvit_to_timm,
    is_internvit_state_dict,
    load_internvit_backbone,
    timm_to_internvit,
)
from vitp_core.checkpoints.state_io import read_state_dict

__all__ = [
    "internvit_to_timm",
    "is_internvit_state_dict",
    "load_internvit_backbone",
    "read_state_dict",
    "timm_to_internvit",
]
