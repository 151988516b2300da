"""Helpers for vitp_torchgeo tests: tiny seeded exports and tiny data folders in real layouts."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from unittest.mock import patch

import numpy as np
import torch
from PIL import Image

from vitp_core.backbone import create_backbone
from vitp_core.export import BackboneMetadata, export_backbone

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples" / "torchgeo"

#: A ViT small enough for 2 shared CPU cores.
TINY_VIT = {"depth": 2, "embed_dim": 32, "num_heads": 2}


def write_tiny_export(
    path: Path,
    *,
    in_chans: int = 3,
    bands: list[str] | None = None,
    img_size: int = 32,
    seed: int = 0,
) -> Path:
    """Export a seeded tiny ViTP backbone as ``vitp export`` does (safetensors + sidecar)."""
    torch.manual_seed(seed)
    vit = create_backbone("vitp_tiny_patch16_224", in_chans=in_chans, img_size=img_size, **TINY_VIT)
    metadata = BackboneMetadata(
        model="vitp_tiny_patch16_224",
        model_kwargs=dict(TINY_VIT),
        img_size=(img_size, img_size),
        patch_size=16,
        in_chans=in_chans,
        embed_dim=TINY_VIT["embed_dim"],
        band_names=bands if bands is not None else ["red", "green", "blue"][:in_chans],
        corpus={"name": "tiny-test"},
        vrl={"keep_ratio": 0.5},
        steps=1,
    )
    return export_backbone(vit, path, metadata)


def _save_rgb(path: Path, rng: np.random.Generator, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def write_rsscn7(root: Path, per_class: int = 4, size: int = 32, seed: int = 0) -> Path:
    """RSSCN7 layout: ``labels.jsonl`` + ``images/<class>/*.jpg``; splits alternate."""
    from vitp_torchgeo.datasets import RSSCN7

    rng = np.random.default_rng(seed)
    lines = []
    for name in RSSCN7.classes:
        for i in range(per_class):
            relative = f"images/{name}/{i:03d}.jpg"
            _save_rgb(root / relative, rng, (size, size))
            split = "train" if i % 2 == 0 else "test"
            lines.append(json.dumps({"image": relative, "label": name, "split": split}))
    (root / "labels.jsonl").write_text("\n".join(lines) + "\n")
    return root


def write_dubai(root: Path, size: tuple[int, int] = (80, 72), seed: int = 0) -> Path:
    """Dubai layout: one image per tile with a colour mask using every class colour."""
    from vitp_torchgeo.datasets import DubaiSegmentation

    rng = np.random.default_rng(seed)
    colours = [
        tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        for hex_colour in [*DubaiSegmentation.colours.values(), "#000000"]
    ]
    (root / "classes.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "classes.json").write_text(json.dumps({"classes": []}))
    for tile in range(1, 9):
        folder = root / f"tile_{tile}"
        _save_rgb(folder / "images" / "image_part_001.jpg", rng, size)
        index = rng.integers(0, len(colours), (size[1], size[0]))
        mask = np.array(colours, dtype=np.uint8)[index]
        (folder / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask).save(folder / "masks" / "image_part_001.png")
    return root


def write_levircd(root: Path, size: int = 32, seed: int = 0) -> Path:
    """LEVIR-CD layout ``A``/``B``/``label``; one unlabelled pair that must be skipped."""
    rng = np.random.default_rng(seed)
    names = ["train_1_0000", "train_2_0000", "val_1_0000", "test_1_0000", "test_2_0000"]
    for name in [*names, "test_9_nolabel"]:
        _save_rgb(root / "A" / f"{name}.png", rng, (size, size))
        _save_rgb(root / "B" / f"{name}.png", rng, (size, size))
    (root / "label").mkdir(parents=True, exist_ok=True)
    for name in names:
        mask = (rng.random((size, size)) > 0.7).astype(np.uint8) * 255
        Image.fromarray(mask).save(root / "label" / f"{name}.png")
    return root


def write_vhr10(root: Path, n: int = 10, size: int = 64, seed: int = 0) -> Path:
    """NWPU VHR-10 layout read by ``torchgeo.datasets.VHR10`` (COCO annotations)."""
    rng = np.random.default_rng(seed)
    folder = root / "NWPU VHR-10 dataset"
    (root / "NWPU VHR-10 dataset.zip").parent.mkdir(parents=True, exist_ok=True)
    (root / "NWPU VHR-10 dataset.zip").write_bytes(b"")
    images, annotations = [], []
    for i in range(n):
        _save_rgb(folder / "positive image set" / f"{i + 1:03d}.jpg", rng, (size, size))
        images.append({"id": i, "file_name": f"{i + 1:03d}.jpg", "height": size, "width": size})
        x, y = (int(v) for v in rng.integers(0, size // 2, 2))
        w, h = (int(v) for v in rng.integers(8, size // 2, 2))
        polygon = [x, y, x + w, y, x + w, y + h, x, y + h]
        annotations.append(
            {
                "id": i,
                "image_id": i,
                "category_id": int(rng.integers(1, 3)),
                "bbox": [x, y, w, h],
                "segmentation": [polygon],
                "area": w * h,
                "iscrowd": 0,
            }
        )
    categories = [{"id": 1, "name": "airplane"}, {"id": 2, "name": "ship"}]
    (folder / "annotations.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return root


def run_torchgeo_cli(args: list[str]) -> None:
    """Run TorchGeo's own CLI entry point (``torchgeo ...``) in-process.

    TorchGeo's ``main`` writes GDAL settings into ``os.environ`` (as a ``torchgeo``
    process would have them); they are undone afterwards so that later tests do not
    inherit them.
    """
    from torchgeo.main import main

    with patch.object(sys, "argv", ["torchgeo"]), patch.dict(os.environ):
        main(args)


def fast_dev_args(config: str, *overrides: str) -> list[str]:
    """``--config examples/torchgeo/<config> --trainer.fast_dev_run 1`` plus overrides."""
    return [
        "--config",
        str(EXAMPLES / config),
        "--trainer.fast_dev_run",
        "1",
        "--trainer.accelerator",
        "cpu",
        *overrides,
    ]


#: Grid of the synthetic georeferenced rasters: UTM 33N, 10 m pixels.
GRID = {"crs": "EPSG:32633", "transform": (10.0, 0.0, 500_000.0, 0.0, -10.0, 4_600_000.0)}


def write_raster(
    path: Path,
    data: np.ndarray,
    *,
    nodata: float | None = None,
    descriptions: list[str] | None = None,
    driver: str = "GTiff",
    crs: str | None = GRID["crs"],
    transform: tuple[float, ...] = GRID["transform"],
) -> Path:
    """Write ``data`` (``(C, H, W)`` or ``(H, W)``) as a georeferenced raster."""
    import rasterio
    from rasterio.transform import Affine

    data = data if data.ndim == 3 else data[None]
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": driver,
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": crs,
        "transform": Affine(*transform),
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if descriptions:
            dst.descriptions = tuple(descriptions)
    return path


def save_checkpoint(task: torch.nn.Module, path: Path, spec: dict | None = None) -> Path:
    """Save a task as ``trainer.fit`` would, with an input spec (as a datamodule records)."""
    from lightning.pytorch import Trainer

    if spec is not None:
        task.data_spec = spec
    trainer = Trainer(logger=False, enable_checkpointing=False, accelerator="cpu")
    trainer.strategy.connect(task)
    trainer.save_checkpoint(path, weights_only=True)
    return path


#: Band names of the synthetic 4-band rasters.
BANDS = ["blue", "green", "red", "nir"]


def write_change_folder(root: Path, size: int = 32, seed: int = 0) -> Path:
    """A 4-band pair with a sparse label: 1 changed, 0 unchanged, 255 unlabelled."""
    import rasterio

    rng = np.random.default_rng(seed)
    first = rng.integers(100, 1000, (4, size, size)).astype(np.uint16)
    second = first.copy()
    second[:, 8:16, 8:16] += 2000
    label = np.full((size, size), 255, dtype=np.uint8)
    label[:16, :16] = 0
    label[8:16, 8:16] = 1
    label[24:28, 0:8] = 0
    for name, data, nodata in (("A", first, 0), ("B", second, 0), ("label", label, None)):
        write_raster(root / name / "scene.tif", data, nodata=nodata, descriptions=None)
    for name in ("A", "B"):
        with rasterio.open(root / name / "scene.tif", "r+") as dst:
            dst.descriptions = tuple(BANDS)
    return root
