"""Make TorchGeo's model API and timm know the ViTP backbones.

TorchGeo has no public plugin hook for models: :func:`torchgeo.models.get_model`,
``get_weight``, ``get_model_weights`` and ``list_models`` read two module-level tables
of ``torchgeo.models.api`` (``_model`` and ``_model_weights``). This is the one place
that adds the ViTP entries to them. It checks that the tables exist with the expected
types first, and warns (instead of failing) when a TorchGeo version lays them out
differently; the builders in :mod:`vitp_torchgeo.models` work regardless.

The timm names (``vitp_*``) are registered by importing :mod:`vitp_core.backbone`, which
also makes segmentation-models-pytorch's ``tu-vitp_*`` encoders available.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable

from torch import nn

import vitp_core.backbone  # noqa: F401  (registers the vitp_* timm names)
from vitp_torchgeo.models import vitp as builders
from vitp_torchgeo.weights import VITP_WEIGHTS

__all__ = ["register_with_torchgeo", "vitp_model_builders"]

_logger = logging.getLogger(__name__)


def vitp_model_builders() -> dict[str, Callable[..., nn.Module]]:
    """Return ``{timm name: TorchGeo-style builder}`` for every ViTP backbone."""
    return {name: getattr(builders, name) for name in VITP_WEIGHTS}


def register_with_torchgeo() -> bool:
    """Add the ViTP builders and weights to TorchGeo's model registry (idempotent).

    Returns:
        ``True`` when registered, ``False`` when this TorchGeo version has no tables to
        extend (a warning says so).
    """
    import torchgeo
    from torchgeo.models import api

    models = getattr(api, "_model", None)
    model_weights = getattr(api, "_model_weights", None)
    if not isinstance(models, dict) or not isinstance(model_weights, dict):
        warnings.warn(
            f"torchgeo {torchgeo.__version__} has no torchgeo.models.api._model/_model_weights "
            "tables; ViTP entries are not visible to torchgeo.models.get_model/get_weight. "
            "Use vitp_torchgeo.models builders and vitp_torchgeo.weights directly.",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    for name, builder in vitp_model_builders().items():
        models[name] = builder
        model_weights[builder] = VITP_WEIGHTS[name]
        model_weights[name] = VITP_WEIGHTS[name]
    _logger.debug(
        "Registered %d ViTP models with torchgeo %s", len(VITP_WEIGHTS), torchgeo.__version__
    )
    return True
