"""ViTP backbones as MONAI-style networks (2D and 3D) and MONAI <-> timm weight converters."""

from vitp_monai.networks.classifier import VitpClassifier
from vitp_monai.networks.encoder import VitpEncoder, evenly_spaced_indices
from vitp_monai.networks.inflation import (
    inflate_patch_kernel,
    inflate_pos_embed,
    resample_pos_embed,
)
from vitp_monai.networks.monai_layout import (
    monai_unetr_to_timm,
    monai_vit_to_timm,
    set_layer_norm_eps,
    timm_to_monai_unetr,
    timm_to_monai_vit,
)
from vitp_monai.networks.pretrained import LoadReport, load_backbone_weights, read_state_dict
from vitp_monai.networks.unetr import VitpUNETR

__all__ = [
    "LoadReport",
    "VitpClassifier",
    "VitpEncoder",
    "VitpUNETR",
    "evenly_spaced_indices",
    "inflate_patch_kernel",
    "inflate_pos_embed",
    "load_backbone_weights",
    "monai_unetr_to_timm",
    "monai_vit_to_timm",
    "read_state_dict",
    "resample_pos_embed",
    "set_layer_norm_eps",
    "timm_to_monai_unetr",
    "timm_to_monai_vit",
]
