"""Reading GDAL rasters window by window: band selection, validity masks, co-registration.

Every raster reader of vitp_torchgeo (training datasets, band statistics, scene prediction)
goes through these functions, so that a band named ``"nir"`` means the same band, a nodata
pixel is invalid the same way, and a bad file is reported the same way everywhere: one
line that names the file, says what is wrong and what to do.

Band selection takes 1-based band numbers (GDAL's and rasterio's convention) or names.
Names are matched, after :func:`~vitp_torchgeo.bands.normalize_band_name`, against the
raster's own band descriptions (GeoTIFF band descriptions, ENVI ``band names``...) or
against ``band_names`` given for files that carry none. A pixel is invalid where every
selected band is masked (GDAL's dataset-mask semantics: nodata value, mask band or alpha)
or where any selected band is not finite.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import MaskFlags, Resampling
from rasterio.env import get_gdal_config, set_gdal_config
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.io import DatasetReader
from rasterio.windows import Window

from vitp_torchgeo.bands import normalize_band_name

__all__ = [
    "BandSelection",
    "BandStatistics",
    "MisregisteredPairError",
    "RasterInputError",
    "check_coregistered",
    "compute_band_statistics",
    "open_raster",
    "read_window",
    "resolve_band_indexes",
]

#: Bands to read: 1-based band numbers and/or band names; ``None`` reads every band.
BandSelection = Sequence[int | str] | None


class RasterInputError(ValueError):
    """A raster cannot be used as given; the message names the file and the fix."""


class MisregisteredPairError(RasterInputError):
    """Two rasters that must share one pixel grid (two dates, image and label) do not."""


#: GDAL setting that TorchGeo's CLI puts into ``os.environ`` (``EMPTY_DIR``, for cloud COGs).
_READDIR = "GDAL_DISABLE_READDIR_ON_OPEN"


@contextmanager
def _sidecars_visible() -> Iterator[None]:
    """Let GDAL list a local file's folder while it opens the file.

    ``torchgeo fit/predict`` sets ``GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR`` in the
    environment for the whole process; GDAL then does not see a file's sidecars (an ENVI
    ``.hdr``: the file cannot be opened at all; a world file; ``.aux.xml`` band names).
    The variable is lifted for the open only (GDAL reads it at each open), not through
    ``rasterio.Env``, which would keep it as a GDAL option once the context ends.
    """
    value = os.environ.pop(_READDIR, None)
    option = get_gdal_config(_READDIR, normalize=False)  # set as a GDAL option, if at all
    if option is not None:
        set_gdal_config(_READDIR, "FALSE")
    try:
        yield
    finally:
        if option is not None:
            set_gdal_config(_READDIR, option, normalize=False)
        if value is not None:
            os.environ[_READDIR] = value


def open_raster(path: str | os.PathLike[str]) -> DatasetReader:
    """Open any GDAL raster (GeoTIFF, COG, ENVI, JP2, PNG...) for reading.

    A local file's sidecars (ENVI header, world file, ``.aux.xml``) are found also under
    TorchGeo's CLI (see :func:`_sidecars_visible`).

    Raises:
        RasterInputError: When the file is missing or GDAL cannot read it.
    """
    try:
        with (
            _sidecars_visible() if Path(path).is_file() else nullcontext(),
            warnings.catch_warnings(),
        ):
            # PNG/JPEG inputs have no georeferencing: they are read in pixel coordinates.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioIOError as err:
        reason = (
            "does not exist" if not Path(path).exists() else f"is not a readable raster ({err})"
        )
        raise RasterInputError(
            f"{path} {reason}; give a GDAL-readable raster (GeoTIFF, COG, ENVI, JP2...)."
        ) from None


def _band_keys(path: str | os.PathLike[str], src: DatasetReader, band_names: Sequence[str] | None):
    if band_names is not None:
        if len(band_names) != src.count:
            raise RasterInputError(
                f"{path} has {src.count} bands but band_names lists {len(band_names)}: "
                f"{list(band_names)}; give one name per band of the file."
            )
        names: list[str | None] = list(band_names)
    else:
        names = list(src.descriptions)
    return names, [normalize_band_name(n) if n else None for n in names]


def resolve_band_indexes(
    path: str | os.PathLike[str],
    src: DatasetReader,
    bands: BandSelection = None,
    band_names: Sequence[str] | None = None,
) -> list[int]:
    """1-based indexes of the selected bands of ``src``.

    Args:
        path: The raster's path, for messages.
        src: The open raster.
        bands: Band numbers (1-based) and/or names; ``None`` selects every band.
        band_names: Names of all the file's bands in order, for files without band
            descriptions (``None``: use the file's descriptions).

    Returns:
        The band indexes, in the order of ``bands``.

    Raises:
        RasterInputError: When a number is out of range or a name is not found.
    """
    if bands is None:
        return list(range(1, src.count + 1))
    names, keys = _band_keys(path, src, band_names)
    indexes = []
    for band in bands:
        if isinstance(band, int | np.integer) and not isinstance(band, bool):
            if not 1 <= int(band) <= src.count:
                raise RasterInputError(
                    f"{path}: band {band} does not exist; it has bands 1..{src.count} "
                    "(band numbers are 1-based, as in GDAL)."
                )
            indexes.append(int(band))
            continue
        key = normalize_band_name(str(band))
        if key not in keys:
            shown = [n or f"<band {i} unnamed>" for i, n in enumerate(names, 1)]
            raise RasterInputError(
                f"{path}: no band named {band!r}; its bands are {shown}. Select bands by "
                "number (1-based) or give the file's band names with band_names."
            )
        indexes.append(keys.index(key) + 1)
    return indexes


def _all_valid(src: DatasetReader, indexes: Sequence[int]) -> bool:
    flags = src.mask_flag_enums
    return all(flags[i - 1] == [MaskFlags.all_valid] for i in indexes)


def read_window(
    src: DatasetReader, indexes: Sequence[int], window: Window
) -> tuple[np.ndarray, np.ndarray]:
    """Read a window of bands as float32, with its validity mask; outside the raster is invalid.

    Args:
        src: The open raster.
        indexes: 1-based band indexes.
        window: Pixel window; it may extend past the raster's edges.

    Returns:
        ``(data, valid)``: ``data`` of shape ``(C, h, w)`` (0 where invalid) and ``valid``
        a boolean array of shape ``(h, w)``.
    """
    height, width = int(window.height), int(window.width)
    row, col = int(window.row_off), int(window.col_off)
    data = np.zeros((len(indexes), height, width), dtype=np.float32)
    valid = np.zeros((height, width), dtype=bool)
    top, left = max(row, 0), max(col, 0)
    bottom, right = min(row + height, src.height), min(col + width, src.width)
    if bottom <= top or right <= left:
        return data, valid
    inner = Window(left, top, right - left, bottom - top)
    rows, cols = slice(top - row, bottom - row), slice(left - col, right - col)
    data[:, rows, cols] = src.read(indexes, window=inner, out_dtype="float32")
    if _all_valid(src, indexes):
        inside = np.ones((bottom - top, right - left), dtype=bool)
    else:
        inside = src.read_masks(indexes, window=inner).any(axis=0)
    inside &= np.isfinite(data[:, rows, cols]).all(axis=0)
    valid[rows, cols] = inside
    data[:, ~valid] = 0.0
    return data, valid


def _transform_close(first: rasterio.Affine, second: rasterio.Affine) -> bool:
    pixel = max(abs(first.a), abs(first.e), 1e-12)
    linear = ((first.a, second.a), (first.b, second.b), (first.d, second.d), (first.e, second.e))
    scale_ok = all(abs(x - y) <= 1e-6 * pixel for x, y in linear)
    return (
        scale_ok
        and abs(first.c - second.c) <= 1e-3 * pixel
        and abs(first.f - second.f) <= 1e-3 * pixel
    )


def _georeferenced(src: DatasetReader) -> bool:
    return src.crs is not None or not src.transform.is_identity


def check_coregistered(
    first_path: str | os.PathLike[str],
    first: DatasetReader,
    second_path: str | os.PathLike[str],
    second: DatasetReader,
) -> None:
    """Check that two rasters share one pixel grid: size, CRS and geotransform.

    A raster without georeferencing (a PNG label beside a GeoTIFF, say) is taken to be on
    the other's grid when the sizes agree.

    Raises:
        MisregisteredPairError: One line naming both files, what differs and the fix.
    """
    problems = []
    georeferenced = _georeferenced(first) and _georeferenced(second)
    if (first.width, first.height) != (second.width, second.height):
        problems.append(f"size {first.width}x{first.height} vs {second.width}x{second.height} px")
    if georeferenced and first.crs != second.crs:
        problems.append(f"CRS {first.crs} vs {second.crs}")
    if georeferenced and not _transform_close(first.transform, second.transform):
        problems.append(f"transform {tuple(first.transform)[:6]} vs {tuple(second.transform)[:6]}")
    if problems:
        raise MisregisteredPairError(
            f"{first_path} and {second_path} are not co-registered ({'; '.join(problems)}); "
            f"resample the second onto the first's grid, e.g. `gdalwarp -t_srs <crs of the "
            f"first> -te <its bounds> -ts {first.width} {first.height} {second_path} aligned.tif`."
        )


@dataclass
class BandStatistics:
    """Per-band mean and standard deviation of valid pixels.

    Attributes:
        mean: One value per selected band, in the raster's units.
        std: One value per band (a constant band gets 1.0).
        pixels: Valid pixels counted.
    """

    mean: list[float]
    std: list[float]
    pixels: int


def _sample(
    path: str | os.PathLike[str],
    bands: BandSelection,
    band_names: Sequence[str] | None,
    max_pixels: int,
) -> np.ndarray:
    """Valid pixels of a raster read at a decimation that keeps at most ``max_pixels``."""
    with open_raster(path) as src:
        indexes = resolve_band_indexes(path, src, bands, band_names)
        step = max(1, math.ceil(math.sqrt(src.width * src.height / max_pixels)))
        shape = (len(indexes), math.ceil(src.height / step), math.ceil(src.width / step))
        data = src.read(
            indexes, out_shape=shape, resampling=Resampling.nearest, out_dtype="float64"
        )
        if _all_valid(src, indexes):
            valid = np.ones(shape[1:], dtype=bool)
        else:
            masks = src.read_masks(indexes, out_shape=shape, resampling=Resampling.nearest)
            valid = masks.any(axis=0)
    valid &= np.isfinite(data).all(axis=0)
    return data[:, valid]


def compute_band_statistics(
    paths: Sequence[str | os.PathLike[str]],
    bands: BandSelection = None,
    band_names: Sequence[str] | None = None,
    max_pixels_per_file: int = 1_000_000,
) -> BandStatistics:
    """Per-band mean and standard deviation of the valid pixels of some rasters.

    Each file is read once, decimated (nearest neighbour, so values stay real) to at most
    ``max_pixels_per_file`` pixels; files are combined exactly (Chan et al.'s parallel
    variance), so memory does not grow with their number or size.

    Args:
        paths: Rasters with the same bands.
        bands: Band numbers (1-based) or names; ``None``: every band.
        band_names: Names of all the files' bands, for files without band descriptions.
        max_pixels_per_file: Pixels sampled per file at most.

    Returns:
        The statistics.

    Raises:
        RasterInputError: When no file has a valid pixel, or band selection fails.
    """
    count, mean, m2 = 0, None, None
    for path in paths:
        values = _sample(path, bands, band_names, max_pixels_per_file)
        n = values.shape[1]
        if n == 0:
            continue
        file_mean = values.mean(axis=1)
        file_m2 = ((values - file_mean[:, None]) ** 2).sum(axis=1)
        if mean is None:
            count, mean, m2 = n, file_mean, file_m2
            continue
        delta = file_mean - mean
        total = count + n
        mean = mean + delta * n / total
        m2 = m2 + file_m2 + delta**2 * count * n / total
        count = total
    if mean is None or m2 is None:
        raise RasterInputError(
            f"No valid pixel in {[os.fspath(p) for p in paths]} (all nodata?); cannot compute "
            "band statistics. Check the files' nodata values or give mean/std."
        )
    std = np.sqrt(m2 / count)
    std = np.where(std > 0, std, 1.0)
    return BandStatistics([float(v) for v in mean], [float(v) for v in std], int(count))
