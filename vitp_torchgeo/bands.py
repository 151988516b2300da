"""Band names and adaptation of a ViT patch embedding to another set of input bands.

Weights pretrained on N bands are loaded into a model that reads M bands. When both
band lists are known, the patch-embedding kernels are matched by name (select, reorder,
and zero-initialise bands the weights never saw); otherwise they are repeated and
rescaled with timm's :func:`~timm.models.adapt_input_conv`.

Band names are compared after normalisation: case and surrounding spaces are ignored,
Sentinel-2 style zero padding is removed (``"B04"`` equals ``"B4"``, ``"B8A"`` stays),
the single letters ``R``, ``G``, ``B`` mean ``red``, ``green``, ``blue`` and ``swir1``/
``swir2`` mean ``swir16``/``swir22``. A bare band ID is not mapped across sensors
(Landsat 8 ``B5`` is NIR, Sentinel-2 ``B5`` is red edge); qualify it with its sensor and
it becomes its common name (STAC ``eo`` style): ``"sentinel2:B04"`` and ``"landsat8:B4"``
are both ``red``, ``"landsat5:B4"`` and ``"sentinel2:B8"`` are ``nir``. RGB weights are thus
reused on a Landsat or Sentinel-2 scene by naming its bands either way, e.g.
``["landsat8:B2", "landsat8:B3", "landsat8:B4", "landsat8:B5", "landsat8:B6", "landsat8:B7"]``
or ``["blue", "green", "red", "nir", "swir16", "swir22"]``: the red/green/blue kernels land on
their bands and the others start from zero kernels, so that the adapted embedding first
computes exactly what the pretrained one did and fine-tuning grows the new bands in.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from timm.models import adapt_input_conv

__all__ = [
    "LANDSAT5_TM_BANDS",
    "LANDSAT8_OLI_TIRS_BANDS",
    "RGB_BANDS",
    "SENSOR_BANDS",
    "SENTINEL1_BANDS",
    "SENTINEL2_BANDS",
    "BandAdaptation",
    "adapt_patch_embed_weight",
    "common_band_names",
    "normalize_band_name",
]

_logger = logging.getLogger(__name__)

#: Channel names of RGB imagery, in the order the ViTP release expects.
RGB_BANDS: tuple[str, ...] = ("red", "green", "blue")
#: Sentinel-2 MSI bands (L1C order, as in TorchGeo's ``EuroSAT.all_band_names``).
SENTINEL2_BANDS: tuple[str, ...] = (
    "B1",
    "B2",
    "B3",
    "B4",
    "B5",
    "B6",
    "B7",
    "B8",
    "B8A",
    "B9",
    "B10",
    "B11",
    "B12",
)
#: Sentinel-1 GRD dual-polarisation SAR bands.
SENTINEL1_BANDS: tuple[str, ...] = ("VV", "VH")
#: Landsat 8/9 OLI-TIRS top-of-atmosphere bands.
LANDSAT8_OLI_TIRS_BANDS: tuple[str, ...] = tuple(f"B{i}" for i in range(1, 12))
#: Landsat 4-5 TM (and 7 ETM+ without its panchromatic B8) bands.
LANDSAT5_TM_BANDS: tuple[str, ...] = tuple(f"B{i}" for i in range(1, 8))

_SENTINEL2_COMMON = {
    "B1": "coastal",
    "B2": "blue",
    "B3": "green",
    "B4": "red",
    "B5": "rededge071",
    "B6": "rededge075",
    "B7": "rededge078",
    "B8": "nir",
    "B8A": "nir08",
    "B9": "nir09",
    "B10": "cirrus",
    "B11": "swir16",
    "B12": "swir22",
}
_LANDSAT8_COMMON = {
    "B1": "coastal",
    "B2": "blue",
    "B3": "green",
    "B4": "red",
    "B5": "nir",
    "B6": "swir16",
    "B7": "swir22",
    "B8": "pan",
    "B9": "cirrus",
    "B10": "lwir11",
    "B11": "lwir12",
}
_LANDSAT5_COMMON = {
    "B1": "blue",
    "B2": "green",
    "B3": "red",
    "B4": "nir",
    "B5": "swir16",
    "B6": "lwir",
    "B7": "swir22",
}
#: Common (STAC ``eo``) name of each band ID, per sensor; keys of the outer table are the
#: sensor prefixes accepted in ``"sensor:band"`` names.
SENSOR_BANDS: dict[str, dict[str, str]] = {
    "sentinel2": _SENTINEL2_COMMON,
    "s2": _SENTINEL2_COMMON,
    "landsat8": _LANDSAT8_COMMON,
    "landsat9": _LANDSAT8_COMMON,
    "oli": _LANDSAT8_COMMON,
    "landsat4": _LANDSAT5_COMMON,
    "landsat5": _LANDSAT5_COMMON,
    "landsat7": {**_LANDSAT5_COMMON, "B8": "pan"},
    "tm": _LANDSAT5_COMMON,
    "etm": {**_LANDSAT5_COMMON, "B8": "pan"},
}

_COMMON_NAMES = {"R": "RED", "G": "GREEN", "B": "BLUE", "SWIR1": "SWIR16", "SWIR2": "SWIR22"}
_PADDED_BAND = re.compile(r"^B0*(\d+)(A?)$")

AdaptationMethod = Literal["identity", "select", "partial", "repeat"]


def _band_id(key: str) -> str:
    match = _PADDED_BAND.match(key)
    return f"B{int(match.group(1))}{match.group(2)}" if match else key


def _sensor_table(sensor: str) -> dict[str, str]:
    table = SENSOR_BANDS.get(sensor.strip().lower().replace("-", "").replace("_", ""))
    if table is None:
        raise ValueError(
            f"Unknown sensor {sensor!r} in a band name; use one of {sorted(SENSOR_BANDS)} "
            "(e.g. 'sentinel2:B04', 'landsat8:B5') or a common name such as 'nir'."
        )
    return table


def normalize_band_name(name: str) -> str:
    """Return the comparison key of a band name.

    ``" b04 "`` -> ``"B4"``, ``"r"`` -> ``"RED"``, ``"swir1"`` -> ``"SWIR16"``,
    ``"sentinel2:B04"`` and ``"landsat8:B4"`` -> ``"RED"``.

    Raises:
        ValueError: For a ``"sensor:band"`` name of an unknown sensor or band.
    """
    if ":" in name:
        sensor, band = name.split(":", 1)
        table = _sensor_table(sensor)
        band_id = _band_id(band.strip().upper())
        if band_id not in table:
            raise ValueError(f"{name!r}: {sensor} has no band {band!r}; it has {list(table)}.")
        return table[band_id].upper()
    key = name.strip().upper()
    return _band_id(_COMMON_NAMES.get(key, key))


def common_band_names(sensor: str, band_ids: Sequence[str] | None = None) -> list[str]:
    """Common (STAC ``eo``) names of a sensor's bands, for ``bands:`` settings.

    Args:
        sensor: ``"sentinel2"``, ``"landsat8"``/``"landsat9"``, ``"landsat5"``/``"landsat7"``...
        band_ids: Band IDs (``"B2"``, ``"B04"``...); default every band of the sensor.

    Returns:
        The names, e.g. ``common_band_names("landsat8", ["B2", "B3", "B4", "B5"])`` is
        ``["blue", "green", "red", "nir"]``.
    """
    table = _sensor_table(sensor)
    ids = list(table) if band_ids is None else list(band_ids)
    return [normalize_band_name(f"{sensor}:{band}").lower() for band in ids]


@dataclass
class BandAdaptation:
    """What :func:`adapt_patch_embed_weight` did to the input bands.

    Attributes:
        method: ``"identity"`` (bands unchanged), ``"select"`` (every target band found
            by name: kernels selected and reordered), ``"partial"`` (some target bands
            found by name: those copied, the others zero-initialised) or ``"repeat"``
            (names unknown or disjoint: kernels repeated/truncated and rescaled by
            ``N / M``, or summed for one band).
        source_bands: Band names of the weights, when known.
        target_bands: Band names of the model input, when known.
        source_index: For ``select``/``partial``: for each target band, the index of
            the source band it copies, or ``None`` when zero-initialised.
        message: One-line human-readable account.
    """

    method: AdaptationMethod
    source_bands: list[str] | None
    target_bands: list[str] | None
    source_index: list[int | None] = field(default_factory=list)
    message: str = ""


def _index_by_name(source: Sequence[str], target: Sequence[str]) -> list[int | None]:
    keys = [normalize_band_name(name) for name in source]
    if len(set(keys)) != len(keys):
        raise ValueError(f"Band names of the weights are not unique after normalisation: {source}")
    lookup = {key: i for i, key in enumerate(keys)}
    return [lookup.get(normalize_band_name(name)) for name in target]


def _by_name(
    weight: torch.Tensor, source: list[str], target: list[str]
) -> tuple[torch.Tensor, BandAdaptation] | None:
    """Match kernels by band name; ``None`` when no band name is shared."""
    index = _index_by_name(source, target)
    found = [i for i in index if i is not None]
    if not found:
        return None
    out = weight.new_zeros(weight.shape[0], len(target), *weight.shape[2:])
    for j, i in enumerate(index):
        if i is not None:
            out[:, j] = weight[:, i]
    if index == list(range(len(source))):
        method: AdaptationMethod = "identity"
        message = f"bands match the weights ({len(source)})"
    elif len(found) == len(target):
        method = "select"
        message = f"selected/reordered {len(target)} of {len(source)} bands by name: {target}"
    else:
        method = "partial"
        missing = [name for name, i in zip(target, index, strict=True) if i is None]
        message = (
            f"matched {len(found)} of {len(target)} bands by name; zero-initialised "
            f"kernels for bands the weights never saw: {missing}"
        )
    return out, BandAdaptation(method, source, target, index, message)


def adapt_patch_embed_weight(
    weight: torch.Tensor,
    in_chans: int,
    source_bands: Sequence[str] | None = None,
    target_bands: Sequence[str] | None = None,
    *,
    warn: bool = True,
) -> tuple[torch.Tensor, BandAdaptation]:
    """Adapt a patch-embedding kernel from the weights' bands to the model's bands.

    Args:
        weight: Conv kernel of the weights, shape ``(D, N, p, p)``.
        in_chans: Number of model input bands ``M``.
        source_bands: ``N`` band names of the weights, when known.
        target_bands: ``M`` band names of the model input, when known.
        warn: Emit a :class:`UserWarning` whenever the bands change.

    Returns:
        The kernel, shape ``(D, M, p, p)``, and what was done.

    Raises:
        ValueError: When a band list's length disagrees with the kernel or ``in_chans``.
    """
    n_source = weight.shape[1]
    source = list(source_bands) if source_bands else None
    target = list(target_bands) if target_bands else None
    if source is not None and len(source) != n_source:
        raise ValueError(
            f"The weights list {len(source)} bands {source} but their patch embedding "
            f"reads {n_source}; fix the 'bands' entry of the weights metadata."
        )
    if target is not None and len(target) != in_chans:
        raise ValueError(
            f"bands={target} names {len(target)} bands but in_channels={in_chans}; "
            "give one name per input band."
        )
    result = _by_name(weight, source, target) if source and target else None
    if result is None:
        adapted = adapt_input_conv(in_chans, weight, base_chans=n_source)
        if in_chans == n_source:
            how = "band names unknown or disjoint; kept the band order"
            result = (adapted, BandAdaptation("identity", source, target, message=how))
        else:
            how = "summed" if in_chans == 1 else f"repeated and scaled by {n_source}/{in_chans}"
            reason = "band names unknown" if not (source and target) else "no band name in common"
            message = f"{reason}: {n_source} -> {in_chans} bands, kernels {how}"
            result = (adapted, BandAdaptation("repeat", source, target, message=message))
    adapted, adaptation = result
    if adaptation.method != "identity" and warn:
        warnings.warn(f"Patch embedding adapted: {adaptation.message}", UserWarning, stacklevel=2)
    _logger.info("Patch embedding: %s", adaptation.message)
    return adapted.to(weight.dtype), adaptation
