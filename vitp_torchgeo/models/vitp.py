"""ViTP backbone builders in TorchGeo's convention (``vitp_small_patch16_224(weights=...)``).

Like :func:`torchgeo.models.vit_small_patch16_224`, each builder creates the timm model
and loads the given weights; unlike it, ``in_chans`` and ``bands`` may differ from the
weights' (the patch embedding is adapted, see :mod:`vitp_torchgeo.bands`) and the model
accepts any input size that divides by the patch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from timm.models.vision_transformer import VisionTransformer

from vitp_core.backbone import create_backbone
from vitp_torchgeo.weights import (
    ViTPBase16_Weights,
    ViTPIntern300M14_Weights,
    ViTPLarge16_Weights,
    ViTPSmall16_Weights,
    ViTPTiny16_Weights,
    WeightsSpec,
    load_vitp_weights,
    weights_meta,
)

__all__ = [
    "build_vitp",
    "vitp_base_patch16_224",
    "vitp_intern300m_patch14_448",
    "vitp_large_patch16_224",
    "vitp_small_patch16_224",
    "vitp_tiny_patch16_224",
]


def build_vitp(
    name: str,
    weights: WeightsSpec | None = None,
    *,
    bands: Sequence[str] | None = None,
    **kwargs: Any,
) -> VisionTransformer:
    """Create a timm ViTP model and load weights into it.

    Args:
        name: timm model name, e.g. ``"vitp_small_patch16_224"``.
        weights: Weights to load (enum member, name or path), or ``None``.
        bands: Band names of the input, to adapt the patch embedding by name.
        **kwargs: :func:`timm.create_model` arguments; ``in_chans`` and ``img_size``
            default to the weights', ``num_classes`` to 0 (headless).

    Returns:
        The model.
    """
    if weights is not None:
        meta = weights_meta(weights)
        kwargs = {**meta.get("model_kwargs", {}), **kwargs}
        kwargs.setdefault("in_chans", len(bands) if bands else meta.get("in_chans", 3))
        if meta.get("img_size"):
            kwargs.setdefault("img_size", meta["img_size"])
    model = create_backbone(name, **kwargs)
    if weights is not None:
        load_vitp_weights(model, weights, bands=bands)
    return model


def vitp_tiny_patch16_224(
    weights: ViTPTiny16_Weights | WeightsSpec | None = None, *args: Any, **kwargs: Any
) -> VisionTransformer:
    """ViTP ViT-Tiny/16 (width 192, depth 12).

    Args:
        weights: Pretrained weights to load (enum member, name or export path).
        *args: Unused; kept for TorchGeo's builder signature.
        **kwargs: :func:`build_vitp` arguments (``in_chans``, ``bands``, ``img_size``...).

    Returns:
        A ViTP ViT-Tiny/16.
    """
    return build_vitp("vitp_tiny_patch16_224", weights, **kwargs)


def vitp_small_patch16_224(
    weights: ViTPSmall16_Weights | WeightsSpec | None = None, *args: Any, **kwargs: Any
) -> VisionTransformer:
    """ViTP ViT-Small/16 (width 384, depth 12); arguments as :func:`vitp_tiny_patch16_224`."""
    return build_vitp("vitp_small_patch16_224", weights, **kwargs)


def vitp_base_patch16_224(
    weights: ViTPBase16_Weights | WeightsSpec | None = None, *args: Any, **kwargs: Any
) -> VisionTransformer:
    """ViTP ViT-Base/16 (width 768, depth 12); arguments as :func:`vitp_tiny_patch16_224`."""
    return build_vitp("vitp_base_patch16_224", weights, **kwargs)


def vitp_large_patch16_224(
    weights: ViTPLarge16_Weights | WeightsSpec | None = None, *args: Any, **kwargs: Any
) -> VisionTransformer:
    """ViTP ViT-Large/16 (width 1024, depth 24); arguments as :func:`vitp_tiny_patch16_224`."""
    return build_vitp("vitp_large_patch16_224", weights, **kwargs)


def vitp_intern300m_patch14_448(
    weights: ViTPIntern300M14_Weights | WeightsSpec | None = None, *args: Any, **kwargs: Any
) -> VisionTransformer:
    """ViTP InternViT-300M/14 at 448 px, the architecture of the official ViTP release.

    If you use this model in your research, please cite:

    * https://arxiv.org/abs/2509.17562

    Args:
        weights: Pretrained weights, e.g. ``ViTPIntern300M14_Weights.VITP_VIT_L_300M_RS``.
        *args: Unused; kept for TorchGeo's builder signature.
        **kwargs: :func:`build_vitp` arguments (``in_chans``, ``bands``, ``img_size``...).

    Returns:
        A ViTP InternViT-300M/14.
    """
    return build_vitp("vitp_intern300m_patch14_448", weights, **kwargs)
