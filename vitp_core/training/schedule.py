"""Learning-rate schedule and parameter groups."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["cosine_with_warmup", "decay_parameter_groups"]


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


def decay_parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Split trainable parameters into decayed weights and undecayed biases/norms/embeddings."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        skip = param.ndim <= 1 or name.endswith((".bias", "pos_embed", "cls_token"))
        (no_decay if skip else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
