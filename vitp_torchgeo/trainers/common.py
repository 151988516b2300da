"""Building a trainer's ViT from weights, for :class:`~vitp_torchgeo.trainers.base.ViTPBaseTask`."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from timm.models.vision_transformer import VisionTransformer
from torch import nn

from vitp_core.backbone import create_backbone
from vitp_torchgeo.models import ViTPyramidEncoder
from vitp_torchgeo.weights import WeightsLoadResult, WeightsSpec, load_vitp_weights, weights_meta

__all__ = [
    "DEFAULT_BACKBONE",
    "build_backbone",
    "build_pyramid_encoder",
    "freeze",
    "resolve_backbone",
]

_logger = logging.getLogger(__name__)

#: Backbone used when neither ``backbone`` nor ``weights`` names one.
DEFAULT_BACKBONE = "vitp_small_patch16_224"


def resolve_backbone(
    backbone: str | None,
    weights: WeightsSpec | None,
    backbone_kwargs: dict[str, Any] | None,
) -> tuple[str, dict[str, Any]]:
    """Settle the timm name and arguments of the backbone before it is built.

    The weights' metadata (``model``, ``model_kwargs`` and ``img_size`` of a ``vitp
    export`` or a release) fills in what the user left out, so that a checkpoint's saved
    hyper-parameters rebuild the same architecture even without the weights.

    Args:
        backbone: timm name chosen by the user, or ``None``.
        weights: Weights to load later, or ``None``.
        backbone_kwargs: Extra :func:`timm.create_model` arguments chosen by the user.

    Returns:
        The timm name and the complete keyword arguments.
    """
    kwargs = dict(backbone_kwargs or {})
    if weights is None:
        return backbone or DEFAULT_BACKBONE, kwargs
    meta = weights_meta(weights)
    name = backbone or meta.get("model") or DEFAULT_BACKBONE
    if backbone and meta.get("model") and backbone != meta["model"]:
        _logger.warning("backbone=%s but the weights were trained as %s", backbone, meta["model"])
    resolved = dict(meta.get("model_kwargs") or {}) if name == meta.get("model") else {}
    if meta.get("img_size"):
        size = meta["img_size"]
        resolved["img_size"] = size if isinstance(size, int) else list(size)
    resolved.update(kwargs)
    return name, resolved


def build_backbone(
    hparams: MutableMapping[str, Any],
    weights: WeightsSpec | None,
    **kwargs: Any,
) -> tuple[VisionTransformer, WeightsLoadResult | None]:
    """Create a trainer's timm ViT and load its weights.

    Reads ``backbone``, ``backbone_kwargs``, ``in_channels`` and ``bands`` from the
    trainer's hyper-parameters and writes the resolved ``backbone`` and
    ``backbone_kwargs`` back (see :func:`resolve_backbone`), so that the checkpoint's
    hyper-parameters rebuild the architecture without the weights.

    Args:
        hparams: The trainer's hyper-parameters (updated in place).
        weights: Weights to load (enum member, name or path), or ``None``.
        **kwargs: Further :func:`timm.create_model` arguments (``num_classes``...).

    Returns:
        The backbone and, when weights were given, what loading them did.
    """
    name, backbone_kwargs = resolve_backbone(
        hparams["backbone"], weights, hparams["backbone_kwargs"]
    )
    hparams["backbone"], hparams["backbone_kwargs"] = name, backbone_kwargs
    in_channels, bands = hparams["in_channels"], hparams["bands"]
    if bands is not None and len(bands) != in_channels:
        raise ValueError(
            f"bands={list(bands)} names {len(bands)} bands, in_channels={in_channels}."
        )
    model = create_backbone(name, in_chans=in_channels, **{**backbone_kwargs, **kwargs})
    result = load_vitp_weights(model, weights, bands=bands) if weights is not None else None
    return model, result


def freeze(module: nn.Module) -> None:
    """Stop gradients for every parameter of ``module``."""
    for param in module.parameters():
        param.requires_grad = False


def build_pyramid_encoder(
    hparams: MutableMapping[str, Any], weights: WeightsSpec | None
) -> tuple[ViTPyramidEncoder, WeightsLoadResult | None]:
    """A dense trainer's ViT (weights loaded) under a simple feature pyramid.

    Reads ``drop_path_rate``, ``out_indices`` and ``pyramid_channels`` besides what
    :func:`build_backbone` reads.

    Returns:
        The encoder and, when weights were given, what loading them did.
    """
    vit, result = build_backbone(hparams, weights, drop_path_rate=hparams["drop_path_rate"])
    encoder = ViTPyramidEncoder(vit, hparams["out_indices"], hparams["pyramid_channels"])
    return encoder, result
