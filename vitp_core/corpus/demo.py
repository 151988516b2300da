"""The embedded demo corpus: small, seeded, generated in seconds, built by the real builders.

``vitp pretrain`` with no arguments trains on this corpus so the default job runs
without network or data files. It is **synthetic demo data**, not real imagery: its
only purpose is to exercise the pipeline end to end.

Parts (each through the same builder a user would run on real data):

* ``aerial``: a 4-band (red, green, blue, nir) GeoTIFF mosaic of generated aerial-style
  scenes with a CRS, and a GeoPackage of its polygons (bare land, vegetation, water,
  road, building), chipped by the raster + vector builder into RGB GeoTIFF chips with
  mask and box questions (PNG chips through the segmentation builder when rasterio or
  geopandas are missing);
* ``change``: before/after pairs where buildings appear, through the change builder;
* ``phantom``: CT-like abdominal phantoms (liver, spleen, kidneys, lesions) as NIfTI
  with a Decathlon ``dataset.json``, through the volume builder (needs nibabel).

The folder holds ``demo.json`` (a mixture of the parts) and ``stamp.json`` (the
configuration it was built with). A second call with the same configuration reuses
the folder; a build goes to a temporary sibling folder that is renamed into place, so
a crashed or concurrent build never leaves a half-written corpus.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vitp_core.atomic_io import atomic_write_json
from vitp_core.corpus.builders.change import ChangePair, build_change_corpus
from vitp_core.corpus.builders.segmentation import build_segmentation_corpus
from vitp_core.corpus.builders.vector import build_vector_corpus
from vitp_core.corpus.builders.volume import VolumeItem, build_volume_corpus
from vitp_core.corpus.class_map import ClassMap
from vitp_core.corpus.demo_phantoms import PHANTOM_CLASSES, generate_phantom
from vitp_core.corpus.demo_scenes import (
    DEMO_BANDS,
    DEMO_CLASSES,
    generate_aerial_scene,
    generate_change_pair,
)
from vitp_core.corpus.images import save_png
from vitp_core.corpus.records import RecordSource

__all__ = ["DEMO_VERSION", "build_demo_corpus"]

#: Bump when the generated content changes, so stale demo folders are rebuilt.
DEMO_VERSION = 4
MIXTURE_FILE = "demo.json"
STAMP_FILE = "stamp.json"
_CRS = "EPSG:32633"  # WGS 84 / UTM zone 33N, a plausible projected CRS
_ORIGIN = (500_000.0, 4_650_000.0)  # upper-left corner, metres
_GSD_M = 0.5


def _config(seed: int, n_scenes: int, chip_size: int) -> dict[str, Any]:
    return {"version": DEMO_VERSION, "seed": seed, "n_scenes": n_scenes, "chip_size": chip_size}


def _is_current(out_dir: Path, config: dict[str, Any]) -> bool:
    stamp = out_dir / STAMP_FILE
    if not stamp.is_file() or not (out_dir / MIXTURE_FILE).is_file():
        return False
    try:
        return json.loads(stamp.read_text(encoding="utf-8")) == config
    except json.JSONDecodeError:
        return False


def _pixel_to_map(transform: Any, col: float, row: float) -> tuple[float, float]:
    a, b, c, d, e, f = tuple(transform)[:6]
    return a * col + b * row + c, d * col + e * row + f


def _grid(n_scenes: int) -> tuple[int, int]:
    """Columns and rows of chips, ``cols * rows == n_scenes``, as square as possible."""
    rows = max(d for d in range(1, math.isqrt(n_scenes) + 1) if n_scenes % d == 0)
    return n_scenes // rows, rows


def _aerial_scene_files(
    folder: Path, seed: int, n_scenes: int, chip_size: int
) -> tuple[Path, Path]:
    """Write the generated mosaic as a 4-band GeoTIFF (UTM 33N, 0.5 m) and its polygons (GPKG)."""
    import geopandas as gpd
    import rasterio
    from rasterio.transform import from_origin
    from shapely import make_valid
    from shapely.geometry import Polygon

    cols, rows = _grid(n_scenes)
    scene = generate_aerial_scene(np.random.default_rng(seed), cols * chip_size, rows * chip_size)
    transform = from_origin(_ORIGIN[0], _ORIGIN[1], _GSD_M, _GSD_M)
    folder.mkdir(parents=True, exist_ok=True)
    raster = folder / "scene.tif"
    profile = {
        "driver": "GTiff",
        "width": scene.image.shape[2],
        "height": scene.image.shape[1],
        "count": 4,
        "dtype": "uint8",
        "crs": _CRS,
        "transform": transform,
    }
    with rasterio.open(raster, "w", **profile) as dst:
        dst.write(scene.image)
        dst.descriptions = DEMO_BANDS
    # Pixel (x, y) vertices -> map coordinates of the pixel centre.
    polygons = [
        make_valid(Polygon([_pixel_to_map(transform, x + 0.5, y + 0.5) for x, y in f.polygon]))
        for f in scene.features
    ]
    frame = gpd.GeoDataFrame(
        {"class": [DEMO_CLASSES[f.label] for f in scene.features]}, geometry=polygons, crs=_CRS
    )
    vectors = folder / "labels.gpkg"
    frame.to_file(vectors, driver="GPKG")
    return raster, vectors


def _build_aerial(folder: Path, seed: int, n_scenes: int, chip_size: int) -> int:
    """Aerial chips through the raster + vector builder (GeoTIFF + GeoPackage)."""
    raster, vectors = _aerial_scene_files(folder / "source", seed, n_scenes, chip_size)
    report = build_vector_corpus(
        raster,
        vectors,
        folder,
        class_column="class",
        classes=[DEMO_CLASSES[k] for k in (1, 2, 3, 4)],
        object_classes=["building"],
        background=DEMO_CLASSES[0],
        name="demo_aerial",
        seed=seed,
        chip_size=chip_size,
        chip_bands=["red", "green", "blue"],
        meta={"synthetic": True},
        on_bad_record="raise",
    )
    return report.records


def _build_aerial_png(folder: Path, seed: int, n_scenes: int, chip_size: int) -> int:
    """Aerial chips as PNG through the segmentation builder (without rasterio/geopandas)."""
    cols, rows = _grid(n_scenes)
    scene = generate_aerial_scene(np.random.default_rng(seed), cols * chip_size, rows * chip_size)
    pairs = []
    for index in range(n_scenes):
        row, col = divmod(index, cols)
        window = np.s_[
            row * chip_size : (row + 1) * chip_size, col * chip_size : (col + 1) * chip_size
        ]
        image = scene.image[:3][(slice(None), *window)].transpose(1, 2, 0)
        pairs.append(
            (
                save_png(np.ascontiguousarray(image), folder / "chips" / f"chip_{index:04d}.png"),
                save_png(scene.mask[window], folder / "masks" / f"chip_{index:04d}.png"),
            )
        )
    report = build_segmentation_corpus(
        pairs,
        folder,
        ClassMap.from_names(DEMO_CLASSES),
        name="demo_aerial",
        seed=seed,
        countable=["building", "water", "vegetation"],
        meta={"modality": "rgb", "bands": ["red", "green", "blue"], "synthetic": True},
        on_bad_record="raise",
    )
    return report.records


def _build_change(folder: Path, seed: int, n_pairs: int, size: int) -> int:
    """Before/after pairs with new buildings, through the change builder."""
    rng = np.random.default_rng(seed + 1)
    pairs = []
    for index in range(n_pairs):
        before, after, changed = generate_change_pair(rng, size)
        name = f"pair_{index:03d}.png"
        pairs.append(
            ChangePair(
                save_png(before, folder / "source" / "A" / name),
                save_png(after, folder / "source" / "B" / name),
                save_png(changed.astype(np.uint8) * 255, folder / "source" / "label" / name),
            )
        )
    report = build_change_corpus(
        pairs,
        folder,
        name="demo_change",
        seed=seed,
        meta={"bands": ["red", "green", "blue"], "synthetic": True},
        on_bad_record="raise",
    )
    return report.records


def _build_phantoms(folder: Path, seed: int, n_volumes: int) -> int:
    """CT-like phantoms as NIfTI + a Decathlon datalist, through the volume builder."""
    import nibabel as nib

    rng = np.random.default_rng(seed + 2)
    training = []
    for index in range(n_volumes):
        phantom = generate_phantom(rng)
        affine = np.diag([*phantom.spacing, 1.0])
        stem = f"phantom_{index:03d}.nii.gz"
        for sub, array in (("imagesTr", phantom.image), ("labelsTr", phantom.label)):
            (folder / "source" / sub).mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(array, affine), folder / "source" / sub / stem)
        training.append({"image": f"./imagesTr/{stem}", "label": f"./labelsTr/{stem}"})
    datalist = {
        "name": "vitp demo phantoms (synthetic)",
        "modality": {"0": "CT"},
        "labels": {str(k): v for k, v in PHANTOM_CLASSES.items()},
        "training": training,
        "test": [],
    }
    atomic_write_json(folder / "source" / "dataset.json", datalist)
    items = [
        VolumeItem(
            folder / "source" / e["image"],
            folder / "source" / e["label"],
            RecordSource(e["image"], 0),
        )
        for e in training
    ]
    report = build_volume_corpus(
        items,
        folder,
        ClassMap.from_names(PHANTOM_CLASSES),
        name="demo_phantom",
        seed=seed,
        modality="CT",
        midline=True,
        noun="organs",
        meta={"synthetic": True},
        on_bad_record="raise",
    )
    return report.records


def _has(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def _build_parts(tmp: Path, seed: int, n_scenes: int, chip_size: int) -> dict[str, int]:
    """Build every part the installed packages allow; return records per part."""
    counts = {}
    if _has("rasterio", "geopandas"):
        counts["aerial"] = _build_aerial(tmp / "aerial", seed, n_scenes, chip_size)
    else:
        counts["aerial"] = _build_aerial_png(tmp / "aerial", seed, n_scenes, chip_size)
    counts["change"] = _build_change(tmp / "change", seed, max(4, n_scenes // 6), chip_size)
    if _has("nibabel"):
        counts["phantom"] = _build_phantoms(tmp / "phantom", seed, max(2, n_scenes // 6))
    return counts


def _publish(tmp: Path, out_dir: Path) -> None:
    """Move a finished build into place, replacing a stale folder."""
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        os.replace(out_dir, old / out_dir.name)
    os.replace(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_demo_corpus(
    out_dir: str | Path,
    *,
    seed: int = 0,
    n_scenes: int = 48,
    chip_size: int = 128,
    force: bool = False,
) -> Path:
    """Generate (or reuse) the synthetic demo corpus and return its mixture file.

    Args:
        out_dir: Folder of the demo corpus; reused when built with the same settings.
        seed: Seed of the generated scenes and questions.
        n_scenes: Number of aerial chips.
        chip_size: Chip side in pixels.
        force: Rebuild even when a matching folder exists.

    Returns:
        Path of ``demo.json``, a mixture file readable by :func:`~vitp_core.corpus.read_corpus`.
    """
    out_dir = Path(out_dir).resolve()
    config = _config(seed, n_scenes, chip_size)
    if not force and _is_current(out_dir, config):
        return out_dir / MIXTURE_FILE
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    tmp.chmod(0o755)
    try:
        counts = _build_parts(tmp, seed, n_scenes, chip_size)
        mixture = {
            f"demo_{part}": {"annotation": f"{part}/corpus.jsonl", "root": part, "repeat_time": 1}
            for part in counts
        }
        atomic_write_json(tmp / MIXTURE_FILE, mixture)
        atomic_write_json(tmp / "README.json", _readme(counts))
        atomic_write_json(tmp / STAMP_FILE, config)
        if not force and _is_current(out_dir, config):  # another process finished first
            return out_dir / MIXTURE_FILE
        _publish(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir / MIXTURE_FILE


def _readme(counts: dict[str, int]) -> dict[str, Any]:
    return {
        "what": "vitp demo corpus: SYNTHETIC, procedurally generated scenes; not real data.",
        "purpose": "lets `vitp pretrain` run end to end without network or data files.",
        "records": counts,
    }
