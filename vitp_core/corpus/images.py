"""Reading and writing the images that corpus records point to.

Every image is returned as a float32 array of shape ``(C, H, W)``:

* PNG / JPEG / BMP (PIL): RGB as 3 bands (``red``, ``green``, ``blue``), grey-scale as one
  band (``gray``); 8-bit values are scaled to 0-1, 16-bit ones by 65535.
* GeoTIFF (rasterio): all bands, or a selection by 1-based index or by band description
  (the names that the raster builder writes, e.g. ``"nir"``); ``uint8`` is scaled to
  0-1, other data types are returned as stored (e.g. reflectance x 10000).
* ``.npy``: ``(H, W)`` or ``(C, H, W)`` arrays, ``uint8`` scaled to 0-1.

Volumes are never read here: the medical builders write 2D slices as PNG.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "GEOTIFF_SUFFIXES",
    "PIL_SUFFIXES",
    "ImageReadError",
    "band_names_of",
    "check_image",
    "image_size",
    "load_image",
    "save_png",
    "to_display_uint8",
]

PIL_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})
GEOTIFF_SUFFIXES = frozenset({".tif", ".tiff"})
_PIL_BAND_NAMES = {"RGB": ("red", "green", "blue"), "L": ("gray",)}

BandSelection = Sequence[str] | Sequence[int] | None


class ImageReadError(OSError):
    """An image that a record points to cannot be read.

    Attributes:
        path: The image file.
        reason: What is wrong with it.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def _select(
    array: np.ndarray, names: Sequence[str], bands: BandSelection, path: Path
) -> np.ndarray:
    """Pick bands from a ``(C, H, W)`` array by 1-based index or by name."""
    if bands is None:
        return array
    lowered = [n.lower() for n in names]
    indices = []
    for band in bands:
        if isinstance(band, str):
            if band.lower() not in lowered:
                raise ImageReadError(path, f"no band named {band!r}; the bands are {list(names)}.")
            indices.append(lowered.index(band.lower()))
        else:
            if not 1 <= int(band) <= array.shape[0]:
                raise ImageReadError(
                    path, f"band {band} out of range 1..{array.shape[0]} (indices are 1-based)."
                )
            indices.append(int(band) - 1)
    return array[indices]


def _scale(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    return array.astype(np.float32)


def _read_pil(path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    with Image.open(path) as image:
        image.load()
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            array = np.asarray(image, dtype=np.float32)[None] / 65535.0
            return array, ("gray",)
        mode = "L" if image.mode in ("L", "1", "LA") else "RGB"
        array = np.asarray(image.convert(mode))
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return _scale(array), _PIL_BAND_NAMES[mode]


def _read_geotiff(path: Path, bands: BandSelection) -> np.ndarray:
    try:
        import rasterio
    except ImportError:  # no GDAL: plain TIFFs still open through PIL
        array, names = _read_pil(path)
        return _select(array, names, bands, path)
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            names = [d or f"band{i + 1}" for i, d in enumerate(src.descriptions)]
            indexes = _select(np.arange(1, src.count + 1)[:, None, None], names, bands, path)
            array = src.read([int(i) for i in indexes.ravel()])
    except RasterioIOError as err:
        raise ImageReadError(path, f"rasterio cannot read it ({err}).") from err
    return _scale(array)


def _read_npy(path: Path, bands: BandSelection) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise ImageReadError(path, f"not a plain numpy array ({err}).") from err
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise ImageReadError(path, f"expected (H, W) or (C, H, W), got shape {array.shape}.")
    names = [f"band{i + 1}" for i in range(array.shape[0])]
    return _scale(_select(array, names, bands, path))


def load_image(path: str | Path, bands: BandSelection = None) -> np.ndarray:
    """Read an image file as a float32 ``(C, H, W)`` array.

    Args:
        path: PNG/JPEG/BMP, GeoTIFF or ``.npy`` file.
        bands: Bands to keep, in order: 1-based indices or band names (GeoTIFF band
            descriptions; ``red``/``green``/``blue`` or ``gray`` for PIL images).
            ``None`` keeps all bands.

    Returns:
        Array of shape ``(C, H, W)``, dtype float32 (8-bit data scaled to 0-1).

    Raises:
        ImageReadError: When the file is missing, corrupt, of an unknown type, or a
            requested band does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "file not found.")
    suffix = path.suffix.lower()
    try:
        if suffix in GEOTIFF_SUFFIXES:
            return _read_geotiff(path, bands)
        if suffix == ".npy":
            return _read_npy(path, bands)
        array, names = _read_pil(path)
        return np.ascontiguousarray(_select(array, names, bands, path))
    except ImageReadError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ImageReadError(path, f"unreadable or truncated image ({err}).") from err


def band_names_of(path: str | Path) -> list[str]:
    """Names of the bands of an image, in order (see :func:`load_image`)."""
    path = Path(path)
    if path.suffix.lower() in GEOTIFF_SUFFIXES:
        try:
            import rasterio
        except ImportError:
            pass
        else:
            with rasterio.open(path) as src:
                return [d or f"band{i + 1}" for i, d in enumerate(src.descriptions)]
    if path.suffix.lower() == ".npy":
        shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
        return [f"band{i + 1}" for i in range(shape[0] if len(shape) == 3 else 1)]
    return list(_read_pil(path)[1])


def image_size(path: str | Path) -> tuple[int, int]:
    """Width and height in pixels, read from the file header when possible.

    Raises:
        ImageReadError: When the file is missing or not an image.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "file not found.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
        return shape[-1], shape[-2]
    if suffix in GEOTIFF_SUFFIXES:
        try:
            import rasterio
        except ImportError:
            pass
        else:
            try:
                with rasterio.open(path) as src:
                    return src.width, src.height
            except rasterio.errors.RasterioIOError as err:
                raise ImageReadError(path, f"rasterio cannot read it ({err}).") from err
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError) as err:
        raise ImageReadError(path, f"not an image ({err}).") from err


def check_image(path: str | Path) -> tuple[int, int]:
    """Decode an image fully (catching truncated files) and return its width and height.

    Raises:
        ImageReadError: When the file is missing, truncated or not an image.
    """
    path = Path(path)
    if path.suffix.lower() in PIL_SUFFIXES:
        if not path.is_file():
            raise ImageReadError(path, "file not found.")
        try:
            with Image.open(path) as image:
                image.load()
                return image.size
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            raise ImageReadError(path, f"unreadable or truncated image ({err}).") from err
    array = load_image(path)
    return array.shape[2], array.shape[1]


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Write an ``(H, W)``, ``(H, W, 3)`` uint8 array, or a 0-1 float array, as PNG.

    Args:
        array: Image data; floats are clipped to 0-1 and scaled to 0-255.
        path: Output file; parent folders are created.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    Image.fromarray(array).save(path)
    return path


def to_display_uint8(
    image: np.ndarray, bands: Sequence[int] = (0, 1, 2), percentiles: tuple[float, float] = (1, 99)
) -> np.ndarray:
    """A ``(C, H, W)`` array (or tensor) as an 8-bit picture for PNG files and previews.

    Args:
        image: Image of any dtype and range, shape ``(C, H, W)``.
        bands: 0-based bands shown as red, green, blue; one band when ``C`` is smaller.
        percentiles: Low and high percentiles stretched to 0 and 255.

    Returns:
        ``(H, W, 3)`` or ``(H, W)`` uint8 array.
    """
    array = np.asarray(image, dtype=np.float32)
    array = array[list(bands)] if array.shape[0] >= len(bands) else array[:1]
    low, high = np.percentile(array, percentiles)
    scaled = np.clip((array - low) / max(float(high - low), 1e-6), 0, 1)
    out = (scaled * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)
    return np.ascontiguousarray(out[..., 0] if out.shape[2] == 1 else out)
