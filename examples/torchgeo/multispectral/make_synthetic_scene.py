"""Write a synthetic, georeferenced 6-band change pair (no download): a Landsat-like test scene.

Two dates of the same 30 m UTM grid with the six reflective Landsat bands (blue, green, red,
nir, swir16, swir22; uint16 surface-reflectance-like values, band names recorded), a
nodata border, and "new buildings" (bright, low-NIR squares) that appear in the second
date. The change label is *sparse*, as hand labels are: 1 = changed and 0 = unchanged on
labelled patches only, 255 = unlabelled everywhere else.

    python examples/torchgeo/multispectral/make_synthetic_scene.py --out runs/data/landsat_change
    # -> runs/data/landsat_change/{A,B,label}/scene.tif
    #    (+ envi/scene_B.img/.hdr, an ENVI copy of B)

The pairs are synthetic: figures obtained on them check the pipeline, nothing else.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

BANDS = ["blue", "green", "red", "nir", "swir16", "swir22"]
#: Typical surface reflectance x 10000 of vegetation and of roofs, per band.
VEGETATION = np.array([400, 700, 500, 3500, 1800, 900], dtype=np.float32)
ROOF = np.array([1500, 1600, 1700, 2200, 2600, 2400], dtype=np.float32)
NODATA = 0
UNLABELLED = 255


def synthetic_pair(size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two dates ``(6, size, size)`` uint16 and a sparse change label ``(size, size)`` uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    texture = 0.15 * np.sin(9 * xx + 4 * yy) + 0.1 * rng.standard_normal((size, size))
    base = VEGETATION[:, None, None] * (1.0 + texture)[None]
    first = base + 40 * rng.standard_normal(base.shape)
    second = base + 40 * rng.standard_normal(base.shape)
    changed = np.zeros((size, size), dtype=bool)
    block = max(size // 16, 4)
    for _ in range(12):
        top, left = rng.integers(block, size - 2 * block, 2)
        changed[top : top + block, left : left + block] = True
    second[:, changed] = ROOF[:, None] + 60 * rng.standard_normal((6, int(changed.sum())))
    label = np.full((size, size), UNLABELLED, dtype=np.uint8)
    labelled = rng.random((size // block + 1, size // block + 1)) < 0.35
    patches = np.kron(labelled, np.ones((block, block), dtype=bool))[:size, :size]
    label[patches] = changed[patches].astype(np.uint8)
    label[changed & (rng.random((size, size)) < 0.5)] = 1  # most changes get labelled
    border = max(size // 64, 2)
    for image in (first, second):
        image[:, :border, :] = NODATA
        image[:, :, -border:] = NODATA
    label[:border, :] = UNLABELLED
    label[:, -border:] = UNLABELLED
    as_uint16 = [np.clip(x, 0, 65535).astype(np.uint16) for x in (first, second)]
    return as_uint16[0], as_uint16[1], label


def write(
    path: Path, data: np.ndarray, nodata: int, driver: str = "GTiff", **extra: object
) -> None:
    """Write a raster on the example's UTM grid, band names as descriptions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = data if data.ndim == 3 else data[None]
    profile = {
        "driver": driver,
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": "EPSG:32633",
        "transform": from_origin(399_960.0, 5_100_000.0, 30.0, 30.0),
        "nodata": nodata,
        **extra,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if data.shape[0] == len(BANDS):
            dst.descriptions = tuple(BANDS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/data/landsat_change"))
    parser.add_argument("--size", type=int, default=512, help="scene side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    first, second, label = synthetic_pair(args.size, args.seed)
    tiled = {"tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    write(args.out / "A" / "scene.tif", first, NODATA, **tiled)
    write(args.out / "B" / "scene.tif", second, NODATA, **tiled)
    write(args.out / "label" / "scene.tif", label, UNLABELLED, **tiled)
    write(args.out / "envi" / "scene_B.img", second, NODATA, driver="ENVI")
    labelled = label != UNLABELLED
    print(
        f"wrote {args.out}/A, B, label/scene.tif ({args.size}x{args.size} px, 6 bands "
        f"{BANDS}) and an ENVI copy of B in {args.out}/envi/; {labelled.mean():.0%} of "
        f"pixels labelled, {(label == 1).sum()} changed"
    )


if __name__ == "__main__":
    main()
