"""What a model's input was: the settings scene prediction must repeat to feed it alike.

A :class:`RasterInputSpec` travels in every ViTP checkpoint (``checkpoint["vitp"]["data"]``,
written by :class:`~vitp_torchgeo.trainers.base.ViTPBaseTask`): which bands the model reads,
in which order, and how they were normalised. ``vitp predict`` and
:class:`~vitp_torchgeo.datamodules.ScenePredictionDataModule` read it, so that a scene is
fed to the model exactly as the training windows were, without the user repeating it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Normalization", "RasterInputSpec"]

#: ``"fixed"``: one mean/std per band for all rasters; ``"per_scene"``: each raster is
#: normalised by its own per-band statistics.
Normalization = Literal["fixed", "per_scene"]


@dataclass
class RasterInputSpec:
    """Bands and normalisation of a model's input.

    Attributes:
        bands: Names of the model's input bands, in input order (when known).
        band_indexes: 1-based raster band numbers read from the training rasters, used
            when a scene's bands cannot be found by name.
        mean: Per-band mean, in the raster's own units (``None``: no shift).
        std: Per-band standard deviation, same units (``None``: no scaling).
        normalization: ``"fixed"`` (``mean``/``std`` for every raster) or ``"per_scene"``.
        patch_size: Side of the training windows in pixels.
        classes: Class names, when known.
        ignore_index: Label value that marks unlabelled pixels in training, if any.
    """

    bands: list[str] | None = None
    band_indexes: list[int] | None = None
    mean: list[float] | None = None
    std: list[float] | None = None
    normalization: Normalization = "fixed"
    patch_size: int | None = None
    classes: list[str] | None = None
    ignore_index: int | None = None

    def __post_init__(self) -> None:
        if self.normalization not in ("fixed", "per_scene"):
            raise ValueError(f"normalization={self.normalization!r}; use 'fixed' or 'per_scene'.")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if values is not None:
                values = [float(v) for v in values]
                if not all(math.isfinite(v) for v in values):
                    raise ValueError(f"{name}={values} has a non-finite value.")
                setattr(self, name, values)
        if self.std is not None and any(v <= 0 for v in self.std):
            raise ValueError(f"std={self.std} must be positive for every band.")
        if self.mean is not None and self.std is not None and len(self.mean) != len(self.std):
            raise ValueError(f"mean has {len(self.mean)} values but std has {len(self.std)}.")

    @property
    def num_bands(self) -> int | None:
        """Number of input bands, when the spec says."""
        for values in (self.bands, self.band_indexes, self.mean, self.std):
            if values is not None:
                return len(values)
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-friendly copy."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any] | None) -> RasterInputSpec:
        """Build from :meth:`to_dict` output, ignoring unknown keys (newer versions)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (payload or {}).items() if k in names})

    def updated(self, **changes: Any) -> RasterInputSpec:
        """A copy with the given fields replaced where the new value is not ``None``."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
