"""Tiny seeded fixtures of each native dataset format the corpus builders read."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def save_rgb(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (32, 32)) -> Path:
    """A solid-colour RGB PNG/JPEG of ``size`` (width, height) with mild seeded noise."""
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))
    pixels = np.clip(np.array(colour)[None, None] + rng.normal(0, 5, (size[1], size[0], 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def answers_of(record: dict) -> list[str]:
    return [t["value"] for t in record["conversations"] if t["from"] == "gpt"]


def questions_of(record: dict) -> list[str]:
    """Human turns without their ``<image>`` tag lines."""
    texts = [t["value"] for t in record["conversations"] if t["from"] == "human"]
    return ["\n".join(x for x in t.splitlines() if not x.endswith("<image>")) for t in texts]


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """A folder standing for the read-only data root of a test."""
    root = tmp_path / "data"
    root.mkdir()
    return root
