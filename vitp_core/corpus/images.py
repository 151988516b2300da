"""Reading and writing the images that corpus records point to.

Every image is returned as a float32 array of shape ``(C, H, W)``:

* PNG / JPEG / BMP (PIL): RGB as 3 bands (``red``, ``green``, ``blue``), grey-scale as one
  band (``gray``); 8-bit values are scaled to 0-1, 16-bit ones by 65535.
* GeoTIFF (rasterio): all bands, or a selection by 1-based index or by band description
  (the names that the raster builder writes, e.g. ``"nir"``); ``uint8`` is scaled to
  0-1, other data types are returned as stored (e.g. reflectance x 10000).
* ``.npy``: ``(H, W)`` or ``(C, H, W)`` arrays, ``uint8`` scaled to 0-1.

Volumes are never read here: the medical builders write 2D slices as PNG.

Two checks make a hostile or broken file a named :class:`ImageReadError` (a bad record)
instead of a crash:

* the size an image *declares* in its header (PIL header, rasterio dataset, ``.npy``
  header) is checked against a pixel limit (width x height) **before** anything is
  decoded (:class:`ImageTooLargeError`). The limit is, first that applies: the
  ``max_pixels`` argument, :func:`image_pixel_limit` around the call, the
  ``VITP_MAX_IMAGE_PIXELS`` environment variable, :data:`DEFAULT_MAX_IMAGE_PIXELS`;
* decoded values must be finite: NaN/Inf pixels raise :class:`NonFiniteImageError`.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "DEFAULT_MAX_IMAGE_PIXELS",
    "GEOTIFF_SUFFIXES",
    "MAX_IMAGE_PIXELS_ENV",
    "PIL_SUFFIXES",
    "ImageReadError",
    "ImageTooLargeError",
    "NonFiniteImageError",
    "band_names_of",
    "check_declared_size",
    "check_finite_pixels",
    "check_image",
    "check_image_array",
    "declared_shape",
    "image_pixel_limit",
    "image_size",
    "load_image",
    "max_image_pixels",
    "npz_declared_shapes",
    "save_png",
    "to_display_uint8",
]

PIL_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})
GEOTIFF_SUFFIXES = frozenset({".tif", ".tiff"})
_PIL_BAND_NAMES = {"RGB": ("red", "green", "blue"), "L": ("gray",)}

#: Largest image read by default, in pixels (width x height): 150 megapixels, enough
#: for a whole Sentinel-2 tile (10980 x 10980) and far below a decompression bomb.
DEFAULT_MAX_IMAGE_PIXELS = 150_000_000
#: Environment variable that sets the pixel limit (a whole number of pixels).
MAX_IMAGE_PIXELS_ENV = "VITP_MAX_IMAGE_PIXELS"
_PIXEL_LIMIT: ContextVar[int | None] = ContextVar("vitp_max_image_pixels", default=None)

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


class ImageTooLargeError(ImageReadError):
    """An image declares more pixels than the limit; it was not decoded."""


class NonFiniteImageError(ImageReadError):
    """An image holds NaN or infinite pixel values."""


def max_image_pixels(limit: int | None = None) -> int:
    """The pixel limit in force (width x height of one image).

    Args:
        limit: An explicit limit; wins over everything else.

    Returns:
        ``limit``, else the one set by :func:`image_pixel_limit`, else
        ``$VITP_MAX_IMAGE_PIXELS``, else :data:`DEFAULT_MAX_IMAGE_PIXELS`.

    Raises:
        ValueError: When the environment variable is not a positive whole number.
    """
    if limit is None:
        limit = _PIXEL_LIMIT.get()
    if limit is None:
        text = os.environ.get(MAX_IMAGE_PIXELS_ENV, "").strip().replace("_", "")
        if not text:
            return DEFAULT_MAX_IMAGE_PIXELS
        try:
            limit = int(text)
        except ValueError:
            limit = 0
        if limit <= 0:
            raise ValueError(
                f"{MAX_IMAGE_PIXELS_ENV}={os.environ[MAX_IMAGE_PIXELS_ENV]!r} must be a positive "
                f"whole number of pixels, e.g. {DEFAULT_MAX_IMAGE_PIXELS}."
            )
    return int(limit)


@contextmanager
def image_pixel_limit(limit: int | None) -> Iterator[None]:
    """Set the pixel limit of every image read inside the ``with`` block.

    ``None`` leaves the limit as it is (environment variable or default). A data set
    wraps its sample loading in this so that a configured ``max_image_pixels`` reaches
    the readers without threading it through every call.
    """
    token = _PIXEL_LIMIT.set(limit if limit is not None else _PIXEL_LIMIT.get())
    try:
        yield
    finally:
        _PIXEL_LIMIT.reset(token)


def _limit_hint() -> str:
    return (
        f"raise max_image_pixels (or {MAX_IMAGE_PIXELS_ENV}) if the image is genuine, "
        "or cut it into tiles"
    )


def check_declared_size(
    path: str | Path, width: int, height: int, max_pixels: int | None = None
) -> None:
    """Refuse an image whose declared ``width`` x ``height`` exceeds the pixel limit.

    Raises:
        ImageTooLargeError: Naming the file, its size and the limit.
    """
    limit = max_image_pixels(max_pixels)
    if int(width) * int(height) > limit:
        raise ImageTooLargeError(
            path,
            f"declares {width}x{height} pixels ({width * height / 1e6:g} megapixels), above "
            f"the limit of {limit / 1e6:g} megapixels; it was not decoded: {_limit_hint()}.",
        )


def check_finite_pixels(
    array: np.ndarray, path: str | Path, band_names: Sequence[str] | None = None
) -> np.ndarray:
    """Return ``array`` (``(C, H, W)`` or ``(H, W)``) if every value is finite.

    Args:
        array: The pixels.
        path: The file they came from (named in the error).
        band_names: Names of the bands, shown next to their 1-based numbers.

    Raises:
        NonFiniteImageError: Naming how many values are NaN/Inf and in which bands.
    """
    if array.dtype.kind not in "fc":
        return array
    bad = ~np.isfinite(array)
    if not bad.any():
        return array
    per_band = bad.reshape(bad.shape[0], -1).sum(axis=1) if bad.ndim == 3 else [bad.sum()]
    names = list(band_names or [])
    bands = [
        f"band {i + 1}"
        + (f" ({names[i]})" if i < len(names) and names[i] != f"band{i + 1}" else "")
        for i, n in enumerate(per_band)
        if n
    ]
    raise NonFiniteImageError(
        path,
        f"{int(bad.sum())} non-finite pixel value(s) (NaN/Inf) in {', '.join(bands)}: fill or "
        "mask them (e.g. with a no-data value) before using this image.",
    )


def check_image_array(
    array: np.ndarray, path: str | Path, *, max_pixels: int | None = None
) -> np.ndarray:
    """Check a decoded ``(C, H, W)`` (or ``(H, W)``) array: within the pixel limit, finite.

    For images that reach vitp other than through :func:`load_image`.

    Args:
        array: The pixels.
        path: The file they came from (named in the error).
        max_pixels: Pixel limit (see :func:`max_image_pixels`).

    Returns:
        ``array`` itself.

    Raises:
        ImageTooLargeError: Above the pixel limit.
        NonFiniteImageError: With NaN/Inf values.
    """
    check_declared_size(path, array.shape[-1], array.shape[-2], max_pixels)
    return check_finite_pixels(array, path)


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
    with np.errstate(over="ignore"):  # values beyond float32 become Inf, refused afterwards
        return array.astype(np.float32)


@contextmanager
def _open_pil(path: Path, max_pixels: int | None) -> Iterator[Image.Image]:
    """Open an image with PIL (header only) and check its declared size before decoding.

    PIL's own :class:`PIL.Image.DecompressionBombError` (raised by ``Image.open`` above
    twice ``PIL.Image.MAX_IMAGE_PIXELS``) becomes an :class:`ImageTooLargeError` too.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below
        try:
            image = Image.open(path)
        except Image.DecompressionBombError as err:
            raise ImageTooLargeError(
                path,
                f"PIL refuses it as a decompression bomb ({err}); it was not decoded: "
                f"{_limit_hint()} (images above PIL's own limit also need "
                "PIL.Image.MAX_IMAGE_PIXELS raised).",
            ) from err
    with image:
        check_declared_size(path, image.width, image.height, max_pixels)
        yield image


def _read_pil(path: Path, max_pixels: int | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    with _open_pil(path, max_pixels) as image:
        image.load()
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            array = np.asarray(image, dtype=np.float32)[None] / 65535.0
            return array, ("gray",)
        if image.mode == "F":  # 32-bit float TIFF, kept as stored
            return np.asarray(image, dtype=np.float32)[None], ("gray",)
        mode = "L" if image.mode in ("L", "1", "LA") else "RGB"
        array = np.asarray(image.convert(mode))
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return _scale(array), _PIL_BAND_NAMES[mode]


def _read_geotiff(path: Path, bands: BandSelection, max_pixels: int | None = None) -> np.ndarray:
    try:
        import rasterio
    except ImportError:  # no GDAL: plain TIFFs still open through PIL
        array, names = _read_pil(path, max_pixels)
        return check_finite_pixels(_select(array, names, bands, path), path)
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            check_declared_size(path, src.width, src.height, max_pixels)
            names = [d or f"band{i + 1}" for i, d in enumerate(src.descriptions)]
            indexes = [
                int(i)
                for i in _select(np.arange(1, src.count + 1)[:, None, None], names, bands, path)
                .ravel()
                .tolist()
            ]
            array = src.read(indexes)
    except RasterioIOError as err:
        raise ImageReadError(path, f"rasterio cannot read it ({err}).") from err
    return check_finite_pixels(_scale(array), path, [names[i - 1] for i in indexes])


def _read_npy_header(handle: BinaryIO) -> tuple[int, ...]:
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, _, _ = np.lib.format.read_array_header_1_0(handle)
    else:
        shape, _, _ = np.lib.format.read_array_header_2_0(handle)
    return tuple(int(n) for n in shape)


def _npy_shape(path: Path) -> tuple[int, ...]:
    """The shape an ``.npy`` file declares, read from its header alone."""
    try:
        with open(path, "rb") as handle:
            return _read_npy_header(handle)
    except ValueError as err:
        raise ImageReadError(path, f"not a plain numpy array ({err}).") from err


def npz_declared_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Shapes of the arrays in an ``.npz`` file, read from their headers alone.

    Raises:
        ImageReadError: When the file is not a readable ``.npz`` archive.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            shapes = {}
            for member in archive.namelist():
                if member.endswith(".npy"):
                    with archive.open(member) as handle:
                        shapes[member[: -len(".npy")]] = _read_npy_header(handle)
            return shapes
    except (zipfile.BadZipFile, ValueError, OSError) as err:
        raise ImageReadError(path, f"not a readable .npz archive ({err}).") from err


def _check_npy_shape(path: Path, shape: tuple[int, ...], max_pixels: int | None) -> None:
    if len(shape) not in (2, 3):
        raise ImageReadError(path, f"expected (H, W) or (C, H, W), got shape {shape}.")
    check_declared_size(path, shape[-1], shape[-2], max_pixels)


def _read_npy(path: Path, bands: BandSelection, max_pixels: int | None = None) -> np.ndarray:
    _check_npy_shape(path, _npy_shape(path), max_pixels)
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


def load_image(
    path: str | Path, bands: BandSelection = None, *, max_pixels: int | None = None
) -> np.ndarray:
    """Read an image file as a float32 ``(C, H, W)`` array.

    The declared size is checked before decoding, the values after.

    Args:
        path: PNG/JPEG/BMP, GeoTIFF or ``.npy`` file.
        bands: Bands to keep, in order: 1-based indices or band names (GeoTIFF band
            descriptions; ``red``/``green``/``blue`` or ``gray`` for PIL images).
            ``None`` keeps all bands.
        max_pixels: Largest width x height accepted (see :func:`max_image_pixels`).

    Returns:
        Array of shape ``(C, H, W)``, dtype float32 (8-bit data scaled to 0-1), finite.

    Raises:
        ImageTooLargeError: When the image declares more pixels than the limit.
        NonFiniteImageError: When a kept band holds NaN or infinite values.
        ImageReadError: When the file is missing, corrupt, of an unknown type, or a
            requested band does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "file not found.")
    suffix = path.suffix.lower()
    try:
        if suffix in GEOTIFF_SUFFIXES:
            return _read_geotiff(path, bands, max_pixels)  # finite, checked with band names
        if suffix == ".npy":
            array = _read_npy(path, bands, max_pixels)
        else:
            pixels, names = _read_pil(path, max_pixels)
            array = np.ascontiguousarray(_select(pixels, names, bands, path))
    except ImageReadError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ImageReadError(path, f"unreadable or truncated image ({err}).") from err
    return check_finite_pixels(array, path)


def band_names_of(path: str | Path) -> list[str]:
    """Names of the bands of an image, in order (see :func:`load_image`).

    Read from the header alone (any size).
    """
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
        shape = _npy_shape(path)
        return [f"band{i + 1}" for i in range(shape[0] if len(shape) == 3 else 1)]
    with _open_pil(path, max_pixels=2**62) as image:
        if image.mode in ("I;16", "I;16B", "I;16L", "I", "F", "L", "1", "LA"):
            return ["gray"]
    return list(_PIL_BAND_NAMES["RGB"])


def declared_shape(path: str | Path, max_pixels: int | None = None) -> tuple[int, int, int]:
    """Bands, height and width an image declares, read from its header without decoding.

    Args:
        path: Any image :func:`load_image` reads.
        max_pixels: Pixel limit (see :func:`max_image_pixels`).

    Returns:
        ``(C, H, W)`` as :func:`load_image` would return them (PIL colour images: 3 bands).

    Raises:
        ImageTooLargeError: When the declared size exceeds the limit.
        ImageReadError: When the file is missing or not an image.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "file not found.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        shape = _npy_shape(path)
        _check_npy_shape(path, shape, max_pixels)
        return (shape[0] if len(shape) == 3 else 1), shape[-2], shape[-1]
    if suffix in GEOTIFF_SUFFIXES:
        try:
            import rasterio
        except ImportError:
            pass
        else:
            try:
                with rasterio.open(path) as src:
                    check_declared_size(path, src.width, src.height, max_pixels)
                    return src.count, src.height, src.width
            except rasterio.errors.RasterioIOError as err:
                raise ImageReadError(path, f"rasterio cannot read it ({err}).") from err
    try:
        with _open_pil(path, max_pixels) as image:
            grey = image.mode in ("I;16", "I;16B", "I;16L", "I", "F", "L", "1", "LA")
            return (1 if grey else 3), image.height, image.width
    except ImageReadError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ImageReadError(path, f"not an image ({err}).") from err


def image_size(path: str | Path, max_pixels: int | None = None) -> tuple[int, int]:
    """Width and height in pixels, read from the file header (nothing is decoded).

    Raises:
        ImageTooLargeError: When the declared size exceeds the pixel limit.
        ImageReadError: When the file is missing or not an image.
    """
    _, height, width = declared_shape(path, max_pixels)
    return width, height


def check_image(path: str | Path, max_pixels: int | None = None) -> tuple[int, int]:
    """Decode an image fully (catching truncated files) and return its width and height.

    The declared size is checked against the pixel limit before decoding, and float
    images must be finite.

    Raises:
        ImageTooLargeError: When the image declares more pixels than the limit.
        NonFiniteImageError: When it holds NaN or infinite values.
        ImageReadError: When the file is missing, truncated or not an image.
    """
    path = Path(path)
    if path.suffix.lower() in PIL_SUFFIXES:
        if not path.is_file():
            raise ImageReadError(path, "file not found.")
        try:
            with _open_pil(path, max_pixels) as image:
                image.load()
                if image.mode == "F":
                    check_finite_pixels(np.asarray(image)[None], path)
                return image.size
        except ImageReadError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            raise ImageReadError(path, f"unreadable or truncated image ({err}).") from err
    array = load_image(path, max_pixels=max_pixels)
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
