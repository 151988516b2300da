"""Interoperability with official checkpoints: InternViT / ViTP backbones and InternVL2.5 VLMs.

Submodules:
    state_io   Read safetensors (single or sharded) and ``weights_only`` PyTorch files.
    internvit  InternViT key layout <-> timm ``VisionTransformer`` (both directions).
    internvl_config    The ``config.json`` of an InternVL2.5 folder, checked.
    internvl_template  The ``internvl2_5`` chat template and the folder's tokenizer.
    internvl   InternVL2.5 folder <-> :class:`vitp_core.vlm.ViTPModel` (continued pretraining,
               export back). Imported on demand: it pulls in the VLM and transformers.
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
