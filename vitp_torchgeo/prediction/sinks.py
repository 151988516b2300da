"""Where predictions go: Cloud-Optimized GeoTIFFs written block by block, and vector files.

A COG cannot be written incrementally (its overviews and image data come after the
headers, in a fixed order), so :class:`CogRasterSink` writes a tiled GeoTIFF window by
window, then lets GDAL's COG driver copy it, computing overviews, into a temporary file
that replaces the target atomically. Both steps stream through GDAL's block cache: memory
does not grow with the raster's size.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import Affine
from rasterio.windows import Window

from vitp_core.atomic_io import atomic_path

__all__ = [
    "VECTOR_SUFFIXES",
    "CogRasterSink",
    "OutputExistsError",
    "check_writable",
    "class_colormap",
    "cog_problems",
    "write_vector",
]

_logger = logging.getLogger(__name__)

#: File suffixes written as vector data, with their OGR driver.
VECTOR_SUFFIXES: dict[str, str] = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "ESRI Shapefile",
}
#: Block side of the intermediate tiled GeoTIFF (px).
STAGING_BLOCK = 256


class OutputExistsError(FileExistsError):
    """The output file exists and overwriting was not asked for."""


def check_writable(path: str | os.PathLike[str], overwrite: bool) -> Path:
    """Refuse to replace a file the user keeps unless ``overwrite``; create the folder."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"{path} exists; choose another output or pass --overwrite "
            "(writer overwrite: true) to replace it."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def class_colormap(count: int) -> dict[int, tuple[int, int, int, int]]:
    """A distinct colour per class (matplotlib's tab20), for viewers of class rasters."""
    from matplotlib import colormaps

    palette = colormaps["tab20"]
    return {i: (*(round(255 * c) for c in palette(i % 20)[:3]), 255) for i in range(count)}


class CogRasterSink:
    """A raster written window by window, finished as a Cloud-Optimized GeoTIFF.

    Usage: create, :meth:`write` windows (any order), then :meth:`close` (or
    :meth:`abort` on error, which leaves no file behind).
    """

    def __init__(
        self,
        target: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        count: int,
        dtype: str,
        crs: CRS | None,
        transform: Affine,
        nodata: float | None,
        overview_resampling: str = "nearest",
        descriptions: Sequence[str] | None = None,
        tags: Mapping[str, str] | None = None,
        colormap: Mapping[int, tuple[int, int, int, int]] | None = None,
        overwrite: bool = False,
    ) -> None:
        """Initialize a new CogRasterSink.

        Args:
            target: Final ``.tif`` path.
            width: Raster width (px).
            height: Raster height (px).
            count: Number of bands.
            dtype: Numpy/GDAL data type name (``"uint8"``...).
            crs: Coordinate reference system (``None`` for pixel coordinates).
            transform: Geotransform of the raster.
            nodata: Nodata value.
            overview_resampling: GDAL resampling of the overviews (``"nearest"``,
                ``"mode"`` for classes, ``"average"`` for scores).
            descriptions: One description per band.
            tags: Dataset metadata (``TAG=value``).
            colormap: Palette of band 1 (for class rasters).
            overwrite: Replace an existing target.
        """
        self.target = check_writable(target, overwrite)
        self.overview_resampling = overview_resampling
        self._predictor = 2 if np.dtype(dtype).kind in "iu" else 3
        self._staging = self.target.with_name(f".{self.target.name}.staging.tif")
        profile: dict[str, Any] = {
            "driver": "GTiff",
            "width": width,
            "height": height,
            "count": count,
            "dtype": dtype,
            "crs": crs,
            "transform": transform,
            "nodata": nodata,
            "tiled": True,
            "blockxsize": STAGING_BLOCK,
            "blockysize": STAGING_BLOCK,
            "compress": "deflate",
            "zlevel": 1,
            "bigtiff": "if_safer",
        }
        with warnings.catch_warnings():
            # An input without georeferencing (PNG, JPEG) gives an output in pixel coordinates.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            self._dataset = rasterio.open(self._staging, "w", **profile)
        if crs is None:
            _logger.info("%s: the input has no CRS; the output is in pixel coordinates.", target)
        for band, text in enumerate(descriptions or [], 1):
            self._dataset.set_band_description(band, text)
        if tags:
            self._dataset.update_tags(**tags)
        if colormap:
            self._dataset.write_colormap(1, dict(colormap))

    def write(self, array: np.ndarray, row: int, col: int) -> None:
        """Write ``array`` of shape ``(count, rows, cols)`` with its top-left at ``(row, col)``."""
        window = Window(col, row, array.shape[2], array.shape[1])
        self._dataset.write(array, window=window)

    def close(self) -> Path:
        """Finish the COG (overviews, final layout) and move it into place."""
        self._dataset.close()
        try:
            with atomic_path(self.target) as tmp:
                rasterio.shutil.copy(
                    self._staging,
                    tmp,
                    driver="COG",
                    compress="deflate",
                    predictor=self._predictor,
                    blocksize=512,
                    overview_resampling=self.overview_resampling,
                    bigtiff="if_safer",
                )
        finally:
            self._staging.unlink(missing_ok=True)
        _logger.info("Wrote %s", self.target)
        return self.target

    def abort(self) -> None:
        """Drop the partial raster."""
        if not self._dataset.closed:
            self._dataset.close()
        self._staging.unlink(missing_ok=True)


def cog_problems(path: str | os.PathLike[str]) -> list[str]:
    """Why a file is not a valid Cloud-Optimized GeoTIFF (empty list: it is one).

    Uses rio-cogeo's validator (tiling, overviews, IFD and data order, as GDAL's
    ``validate_cloud_optimized_geotiff.py`` checks) when installed, else the checks that
    rasterio can make itself: GeoTIFF, tiled, overviews when larger than one block, and
    GDAL's ``LAYOUT=COG`` marker.
    """
    try:
        from rio_cogeo.cogeo import cog_validate
    except ImportError:  # pragma: no cover - rio-cogeo is part of vitp[torchgeo]
        cog_validate = None
    if cog_validate is not None:
        valid, errors, _ = cog_validate(os.fspath(path), quiet=True)
        return [] if valid else list(errors) or ["not a COG"]
    problems = []
    with rasterio.open(path) as src:
        if src.driver != "GTiff":
            problems.append(f"driver {src.driver}, not GTiff")
        if not src.profile.get("tiled", False):
            problems.append("not tiled")
        block = src.block_shapes[0]
        if max(src.width, src.height) > max(block) and not src.overviews(1):
            problems.append("no overviews")
        if src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") != "COG":
            problems.append("no LAYOUT=COG marker")
    return problems


def write_vector(frame: Any, target: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write a GeoDataFrame as GeoPackage / GeoJSON / Shapefile (by suffix), atomically.

    Args:
        frame: A :class:`geopandas.GeoDataFrame`.
        target: Output path; its suffix chooses the format (:data:`VECTOR_SUFFIXES`).
        overwrite: Replace an existing file.

    Returns:
        The path written.
    """
    target = check_writable(target, overwrite)
    driver = VECTOR_SUFFIXES.get(target.suffix.lower())
    if driver is None:
        raise ValueError(f"{target}: vector outputs end with one of {sorted(VECTOR_SUFFIXES)}.")
    if driver == "ESRI Shapefile":  # several files: write beside, then move each
        staging = target.with_name(f".{target.stem}.staging")
        staging.mkdir(exist_ok=True)
        try:
            frame.to_file(staging / target.name, driver=driver)
            for part in staging.iterdir():
                os.replace(part, target.with_suffix(part.suffix))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target
    # GeoPackage names its layer after the file: the output's stem, not the temporary name's
    options = {"layer": re.sub(r"\W", "_", target.stem)} if driver == "GPKG" else {}
    with atomic_path(target) as tmp:
        tmp.unlink()
        frame.to_file(tmp, driver=driver, **options)
    return target
