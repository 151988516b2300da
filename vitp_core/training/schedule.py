"""Learning-rate schedule and optimizer parameter groups.

Two weight-decay recipes (:func:`optimizer_parameter_groups`):

* ``"vitp"`` (vitp's default, with ``weight_decay`` 0.05): the usual ViT recipe; biases,
  norm weights, LayerScale vectors, position embeddings and the CLS token (every
  parameter with at most one dimension, and ``pos_embed``/``cls_token``) are not decayed.
* ``"official"`` (the official ViTP release, with ``weight_decay`` 0.01): every trainable
  parameter is decayed. The release trains with Hugging Face's ``Trainer`` (transformers
  4.37) and a DeepSpeed config that declares its own ``AdamW``; the Trainer then hands
  DeepSpeed all trainable parameters as one group (``deepspeed_optim_sched`` ->
  ``DummyOptim(params=model_parameters)``), so its usual no-decay split is skipped and norm
  weights, biases, LayerScale and embeddings are decayed too.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

__all__ = [
    "OPTIMIZER_RECIPES",
    "OptimizerRecipe",
    "cosine_with_warmup",
    "decay_parameter_groups",
    "optimizer_parameter_groups",
]

OptimizerRecipe = Literal["vitp", "official"]
#: The recipe names :func:`optimizer_parameter_groups` accepts.
OPTIMIZER_RECIPES: tuple[str, ...] = ("vitp", "official")


def cosine_with_warmup(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_ratio: float,
    min_lr_ratio: float = 0.0,
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup then cosine decay to ``min_lr_ratio`` x the base learning rate.

    Args:
        optimizer: The optimizer.
        total_steps: Optimizer steps of the whole run.
        warmup_ratio: Share of ``total_steps`` spent warming up.
        min_lr_ratio: Final learning rate relative to the peak.

    Returns:
        A per-step ``LambdaLR``.
    """
    warmup = max(int(total_steps * warmup_ratio), 0)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min((step - warmup) / max(total_steps - warmup, 1), 1.0)
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _exempt_from_decay(name: str, param: nn.Parameter) -> bool:
    """True for what vitp does not decay: biases, norms, LayerScale, positions, CLS."""
    return param.ndim <= 1 or name.endswith((".bias", "pos_embed", "cls_token"))


def decay_parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Split trainable parameters into decayed weights and undecayed biases/norms/embeddings."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if _exempt_from_decay(name, param) else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def optimizer_parameter_groups(
    model: nn.Module,
    *,
    vit: nn.Module | None = None,
    lr: float,
    vit_lr_scale: float = 1.0,
    weight_decay: float,
    recipe: OptimizerRecipe = "vitp",
) -> list[dict]:
    """AdamW parameter groups: a learning rate per part and a weight-decay recipe.

    Args:
        model: The whole model; only parameters with ``requires_grad`` are grouped.
        vit: The module whose parameters train at ``lr * vit_lr_scale`` (the ViT), or
            ``None`` for one learning rate.
        lr: Peak learning rate of everything else.
        vit_lr_scale: The ViT's peak learning rate relative to ``lr``.
        weight_decay: Decoupled weight decay of the decayed parameters.
        recipe: ``"vitp"`` (no decay on biases, norms, LayerScale, position embeddings,
            CLS) or ``"official"`` (decay on every parameter, as the official release).

    Returns:
        Non-empty groups with ``params``, ``lr`` and ``weight_decay``; every trainable
        parameter is in exactly one group.

    Raises:
        ValueError: For an unknown recipe.
    """
    if recipe not in OPTIMIZER_RECIPES:
        raise ValueError(f"optimizer recipe must be one of {OPTIMIZER_RECIPES}, got {recipe!r}.")
    vit_ids = {id(p) for p in vit.parameters()} if vit is not None else set()
    buckets: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        decayed = recipe == "official" or not _exempt_from_decay(name, param)
        buckets.setdefault((id(param) in vit_ids, decayed), []).append(param)
    return [
        {
            "params": params,
            "lr": lr * vit_lr_scale if in_vit else lr,
            "weight_decay": weight_decay if decayed else 0.0,
        }
        for (in_vit, decayed), params in sorted(buckets.items(), key=lambda item: item[0])
    ]
