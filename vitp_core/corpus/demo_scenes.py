"""Procedural aerial-style scenes for the demo corpus (synthetic, not real data).

A scene is land texture with vegetation blobs, a river or lakes, straight roads and
small rectangular buildings, all drawn as polygons so the same features can be written
as a vector layer. Four bands are rendered: red, green, blue and a near-infrared band
that is bright on vegetation and dark on water, as in real multispectral imagery.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "DEMO_BANDS",
    "DEMO_CLASSES",
    "DemoFeature",
    "DemoScene",
    "generate_aerial_scene",
    "generate_change_pair",
]

#: Class index -> name; the mask values of the scene.
DEMO_CLASSES = {0: "bare land", 1: "vegetation", 2: "water", 3: "road", 4: "building"}
DEMO_BANDS = ("red", "green", "blue", "nir")

# Mean reflectance-like colour per class and band (R, G, B, NIR), 0-255.
_CLASS_COLOURS = np.array(
    [
        [176, 156, 122, 150],  # bare land
        [64, 112, 52, 215],  # vegetation
        [40, 78, 120, 18],  # water
        [118, 118, 122, 90],  # road
        [190, 82, 64, 110],  # building (red roofs)
    ],
    dtype=np.float32,
)
_TEXTURE_STRENGTH = np.array([18, 26, 8, 14, 20], dtype=np.float32)


@dataclass(frozen=True)
class DemoFeature:
    """One drawn polygon: class index and its vertices in pixel ``(x, y)``."""

    label: int
    polygon: tuple[tuple[float, float], ...]


@dataclass
class DemoScene:
    """A rendered scene.

    Attributes:
        image: ``(4, H, W)`` uint8 bands red, green, blue, nir.
        mask: ``(H, W)`` uint8 class indices (see :data:`DEMO_CLASSES`).
        features: Polygons in drawing order (later ones cover earlier ones).
    """

    image: np.ndarray
    mask: np.ndarray
    features: list[DemoFeature]


def _blob(rng: np.random.Generator, cx: float, cy: float, radius: float) -> tuple:
    n = int(rng.integers(7, 13))
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = radius * rng.uniform(0.6, 1.2, n)
    return tuple(
        (cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(angles, radii, strict=True)
    )


def _strip(x0: float, y0: float, x1: float, y1: float, half_width: float) -> tuple:
    dx, dy = x1 - x0, y1 - y0
    length = math.hypot(dx, dy) or 1.0
    nx, ny = -dy / length * half_width, dx / length * half_width
    return ((x0 + nx, y0 + ny), (x1 + nx, y1 + ny), (x1 - nx, y1 - ny), (x0 - nx, y0 - ny))


def _rectangle(cx: float, cy: float, w: float, h: float, angle: float) -> tuple:
    c, s = math.cos(angle), math.sin(angle)
    corners = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return tuple((cx + x * c - y * s, cy + x * s + y * c) for x, y in corners)


def _features(rng: np.random.Generator, width: int, height: int) -> list[DemoFeature]:
    area_units = width * height / 128**2
    features = []
    for _ in range(int(rng.poisson(2.0 * area_units)) + 1):
        radius = rng.uniform(10, 30)
        features.append(
            DemoFeature(1, _blob(rng, rng.uniform(0, width), rng.uniform(0, height), radius))
        )
    for _ in range(int(rng.poisson(0.4 * area_units))):
        radius = rng.uniform(8, 20)
        features.append(
            DemoFeature(2, _blob(rng, rng.uniform(0, width), rng.uniform(0, height), radius))
        )
    y_left, y_right = rng.uniform(0, height, 2)
    features.append(DemoFeature(2, _strip(-5, y_left, width + 5, y_right, rng.uniform(5, 10))))
    for _ in range(max(1, int(rng.poisson(0.5 * math.sqrt(area_units) * 2)))):
        if rng.random() < 0.5:
            x = rng.uniform(0, width)
            polygon = _strip(x, -5, x + rng.uniform(-20, 20), height + 5, rng.uniform(2, 4))
        else:
            y = rng.uniform(0, height)
            polygon = _strip(-5, y, width + 5, y + rng.uniform(-20, 20), rng.uniform(2, 4))
        features.append(DemoFeature(3, polygon))
    for _ in range(int(rng.poisson(6 * area_units))):
        w, h = rng.uniform(5, 14, 2)
        angle = rng.normal(0, 0.2)
        rect = _rectangle(rng.uniform(8, width - 8), rng.uniform(8, height - 8), w, h, angle)
        features.append(DemoFeature(4, rect))
    return features


def _render_mask(features: list[DemoFeature], width: int, height: int) -> np.ndarray:
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for feature in features:
        draw.polygon(feature.polygon, fill=feature.label)
    return np.asarray(canvas).copy()


def _render_image(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = mask.shape
    coarse = rng.normal(0, 1, (height // 8 + 2, width // 8 + 2, 4)).astype(np.float32)
    smooth = np.asarray(
        [
            np.asarray(Image.fromarray(coarse[..., b]).resize((width, height), Image.BILINEAR))
            for b in range(4)
        ]
    )
    fine = rng.normal(0, 0.5, (4, height, width)).astype(np.float32)
    base = _CLASS_COLOURS[mask].transpose(2, 0, 1)
    image = base + _TEXTURE_STRENGTH[mask][None] * (smooth + fine)
    return np.clip(image, 0, 255).astype(np.uint8)


def generate_aerial_scene(rng: np.random.Generator, width: int, height: int) -> DemoScene:
    """Render one synthetic aerial scene.

    Args:
        rng: Seeded generator; the same seed gives the same scene.
        width: Width in pixels.
        height: Height in pixels.

    Returns:
        The 4-band image, its class mask and the drawn polygons.
    """
    features = _features(rng, width, height)
    mask = _render_mask(features, width, height)
    return DemoScene(_render_image(mask, rng), mask, features)


def generate_change_pair(
    rng: np.random.Generator, size: int, max_new_buildings: int = 6
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A before/after RGB pair where new buildings appear, and the change mask.

    Args:
        rng: Seeded generator.
        size: Side of the square images in pixels.
        max_new_buildings: Up to this many buildings are added (possibly none).

    Returns:
        ``before`` and ``after`` as ``(H, W, 3)`` uint8 and the ``(H, W)`` bool change mask.
    """
    scene = generate_aerial_scene(rng, size, size)
    new = [
        DemoFeature(
            4,
            _rectangle(*rng.uniform(10, size - 10, 2), *rng.uniform(6, 14, 2), rng.normal(0, 0.2)),
        )
        for _ in range(int(rng.integers(0, max_new_buildings + 1)))
    ]
    changed = _render_mask(new, size, size) > 0
    changed &= scene.mask != 4  # a roof drawn over a roof is no change
    after_mask = np.where(changed, 4, scene.mask).astype(np.uint8)
    after = np.where(changed[None], _render_image(after_mask, rng), scene.image)
    before_rgb = scene.image[:3].transpose(1, 2, 0)
    return (
        np.ascontiguousarray(before_rgb),
        np.ascontiguousarray(after[:3].transpose(1, 2, 0)),
        changed,
    )
