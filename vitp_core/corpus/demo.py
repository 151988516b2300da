"""The embedded demo corpus: small, seeded, generated in seconds, built by the real builders.

``vitp pretrain`` with no arguments trains on this corpus so the default job runs
without network or data files. It is **synthetic demo data**, not real imagery: its
only purpose is to exercise the pipeline end to end.

The folder holds ``demo.json`` (a mixture of the parts below) and ``stamp.json`` (the
configuration it was built with). A second call with the same configuration reuses
the folder; a build goes to a temporary sibling folder that is renamed into place, so
a crashed or concurrent build never leaves a half-written corpus.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vitp_core.atomic_io import atomic_write_json
from vitp_core.corpus.builders.segmentation import build_segmentation_corpus
from vitp_core.corpus.class_map import ClassMap
from vitp_core.corpus.demo_scenes import DEMO_CLASSES, generate_aerial_scene
from vitp_core.corpus.images import save_png

__all__ = ["DEMO_VERSION", "build_demo_corpus"]

#: Bump when the generated content changes, so stale demo folders are rebuilt.
DEMO_VERSION = 1
MIXTURE_FILE = "demo.json"
STAMP_FILE = "stamp.json"


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


def _build_aerial(folder: Path, seed: int, n_scenes: int, chip_size: int) -> dict[str, Any]:
    """Aerial-style chips with masks, through the segmentation builder."""
    cols = math.ceil(math.sqrt(n_scenes))
    rows = math.ceil(n_scenes / cols)
    rng = np.random.default_rng(seed)
    scene = generate_aerial_scene(rng, cols * chip_size, rows * chip_size)
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
    return {
        "annotation": "aerial/corpus.jsonl",
        "root": "aerial",
        "repeat_time": 1,
        "records": report.records,
    }


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
        mixture = {"demo_aerial": _build_aerial(tmp / "aerial", seed, n_scenes, chip_size)}
        counts = {name: entry.pop("records") for name, entry in mixture.items()}
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
