"""Tiny hostile input files: decompression bombs and non-finite rasters, built in milliseconds.

Each file is a few kilobytes but declares a huge image (or holds NaN/Inf pixels), so a
reader that decodes before checking the declared size allocates gigabytes. Shared by the
corpus, data and corruption-drill tests.
"""

from __future__ import annotations

import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "float_geotiff",
    "geotiff_bomb",
    "nifti_header_bomb",
    "npy_header_bomb",
    "npz_header_bomb",
    "png_bomb",
]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bomb(path: Path, width: int = 20_000, height: int = 20_000, rows: int = 64) -> Path:
    """A 1-bit grey PNG declaring ``width`` x ``height`` pixels (default 400 megapixels).

    Only the first ``rows`` rows are stored (zeros), so the file stays a few hundred bytes;
    a reader that trusts the header and decodes allocates the whole image first.
    """
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    data = zlib.compress(row * rows, 9)
    payload = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


def geotiff_bomb(path: Path, side: int = 100_000, count: int = 3) -> Path:
    """A sparse tiled GeoTIFF declaring ``side`` x ``side`` x ``count`` uint8 pixels (~5 KB)."""
    import rasterio

    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rasterio's notes on sparse files
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=side,
            height=side,
            count=count,
            dtype="uint8",
            tiled=True,
            blockxsize=4096,
            blockysize=4096,
            sparse_ok=True,
            compress="deflate",
            crs="EPSG:32633",
            transform=rasterio.transform.from_origin(0, 0, 10, 10),
        ):
            pass  # no block is written: the file only declares its size
    return path


def float_geotiff(
    path: Path, values: np.ndarray, descriptions: tuple[str, ...] | None = None
) -> Path:
    """Write a float32 ``(C, H, W)`` array as a GeoTIFF (NaN/Inf kept as stored)."""
    import rasterio

    values = np.asarray(values, dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=values.shape[2],
        height=values.shape[1],
        count=values.shape[0],
        dtype="float32",
        crs="EPSG:32633",
        transform=rasterio.transform.from_origin(0, 0, 10, 10),
    ) as dst:
        dst.write(values)
        if descriptions:
            dst.descriptions = descriptions
    return path


def nifti_header_bomb(path: Path, shape: tuple[int, ...] = (4096, 4096, 4096)) -> Path:
    """A ``.nii`` file whose header declares ``shape`` float32 voxels but holds no data."""
    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.float32)
    header["vox_offset"] = 352
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header.binaryblock + b"\x00" * 4)
    return path


def _npy_header(shape: tuple[int, ...], dtype: str = "|u1") -> bytes:
    text = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape!r}, }}"
    text += " " * ((64 - (10 + len(text) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def npy_header_bomb(path: Path, shape: tuple[int, ...] = (3, 100_000, 100_000)) -> Path:
    """A ``.npy`` file whose header declares ``shape`` uint8 values but holds 16 bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_npy_header(shape) + b"\x00" * 16)
    return path


def npz_header_bomb(
    path: Path,
    shape: tuple[int, ...] = (1, 100_000, 100_000),
    splits: tuple[str, ...] = ("train",),
) -> Path:
    """A MedMNIST-style ``.npz`` whose ``{split}_images`` declare ``shape`` (no data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for split in splits:
            archive.writestr(f"{split}_images.npy", _npy_header(shape) + b"\x00" * 16)
            labels = np.zeros((shape[0], 1), dtype=np.uint8)
            archive.writestr(f"{split}_labels.npy", _npy_header(labels.shape) + labels.tobytes())
    return path
