"""Layer-wise learning-rate decay (LLRD) for fine-tuning a ViT inside a larger model.

As in BEiT, MAE and ViTDet fine-tuning (and the ViTP paper's downstream recipes), block
``i`` (0-based) of an ``L``-block ViT learns at ``lr * decay ** (L - 1 - i)``, the
patch/position embeddings at ``lr * decay ** L``, and the last block, the final norm and
everything outside the ViT (pyramid, decoder, heads) at ``lr``. The ViT's layers come
from timm's ``group_matcher`` via :func:`timm.optim.param_groups_layer_decay`; 1-D
parameters (norms, biases) and the ViT's ``no_weight_decay()`` names get no weight decay.
"""

from __future__ import annotations

from typing import Any

from timm.models.vision_transformer import VisionTransformer
from timm.optim import param_groups_layer_decay
from torch import nn

__all__ = ["layer_decay_param_groups"]


def layer_decay_param_groups(
    model: nn.Module,
    backbone: VisionTransformer,
    lr: float,
    weight_decay: float = 0.05,
    layer_decay: float = 0.9,
) -> list[dict[str, Any]]:
    """Optimizer parameter groups with layer-wise learning-rate decay for ``backbone``.

    Args:
        model: The whole network (its trainable parameters outside ``backbone`` form
            the head groups, at ``lr``).
        backbone: The ViT inside ``model``.
        lr: Base learning rate (of the head and the ViT's last layer).
        weight_decay: Decoupled weight decay of weight matrices.
        layer_decay: Per-layer multiplier; ``1.0`` disables the decay.

    Returns:
        Groups for a torch optimizer, each with ``params``, ``lr``, ``weight_decay`` and
        timm's ``lr_scale``; empty groups are left out.
    """
    groups = param_groups_layer_decay(
        backbone,
        weight_decay=weight_decay,
        no_weight_decay_list=backbone.no_weight_decay(),
        layer_decay=layer_decay,
    )
    for group in groups:
        group["lr"] = lr * group["lr_scale"]
    inside = {id(p) for p in backbone.parameters()}
    decay, no_decay = [], []
    for param in model.parameters():
        if id(param) in inside or not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 else decay).append(param)
    groups += [
        {"params": decay, "lr": lr, "weight_decay": weight_decay, "lr_scale": 1.0},
        {"params": no_decay, "lr": lr, "weight_decay": 0.0, "lr_scale": 1.0},
    ]
    return [group for group in groups if group["params"]]
