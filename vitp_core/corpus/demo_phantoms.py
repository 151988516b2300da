"""Procedural CT-like phantom volumes for the demo corpus (synthetic, not real data).

Each phantom is an elliptic body in air with a liver on the patient's right, a spleen
on the left, two kidneys at the back and a few hypodense lesions inside the liver, in
Hounsfield-like units. Arrays are in RAS+ order (``x`` grows towards the patient's
right, ``y`` to the front, ``z`` up), so the NIfTI files carry a diagonal affine with
the voxel spacing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PHANTOM_CLASSES", "Phantom", "generate_phantom"]

PHANTOM_CLASSES = {
    0: "background",
    1: "liver",
    2: "spleen",
    3: "right kidney",
    4: "left kidney",
    5: "lesion",
}
_HU = {1: 60.0, 2: 50.0, 3: 30.0, 4: 30.0, 5: 5.0}


@dataclass
class Phantom:
    """A generated scan.

    Attributes:
        image: ``(X, Y, Z)`` float32 intensities in HU, RAS+ order.
        label: ``(X, Y, Z)`` uint8 class indices (see :data:`PHANTOM_CLASSES`).
        spacing: Voxel size in millimetres along X, Y, Z.
    """

    image: np.ndarray
    label: np.ndarray
    spacing: tuple[float, float, float]


def _ellipsoid(grid: tuple[np.ndarray, ...], centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii, strict=True)) <= 1.0


def generate_phantom(
    rng: np.random.Generator,
    shape: tuple[int, int, int] = (64, 64, 48),
    spacing: tuple[float, float, float] = (2.0, 2.0, 3.0),
) -> Phantom:
    """Generate one abdominal phantom.

    Args:
        rng: Seeded generator.
        shape: Volume size in voxels along X (right), Y (anterior), Z (superior).
        spacing: Voxel size in millimetres.
    """
    grid = np.meshgrid(*(np.linspace(0, 1, n) for n in shape), indexing="ij")
    label = np.zeros(shape, dtype=np.uint8)
    body = _ellipsoid(grid[:2], np.array([0.5, 0.5]), np.array([0.46, 0.36]))  # a cylinder
    # x grows towards the patient's right (RAS+): the liver sits at high x.
    organs = {
        1: (np.array([0.66, 0.52, 0.6]), np.array([0.2, 0.2, 0.3])),
        2: (np.array([0.3, 0.45, 0.62]), np.array([0.09, 0.1, 0.16])),
        3: (np.array([0.66, 0.3, 0.38]), np.array([0.07, 0.06, 0.14])),
        4: (np.array([0.34, 0.3, 0.4]), np.array([0.07, 0.06, 0.14])),
    }
    for index, (centre, radii) in organs.items():
        shifted = centre + rng.normal(0, 0.02, 3)
        label[_ellipsoid(grid, shifted, radii * rng.uniform(0.85, 1.15, 3)) & body] = index
    liver = np.argwhere(label == 1)
    for _ in range(int(rng.integers(0, 4))):
        centre = liver[rng.integers(len(liver))] / (np.array(shape) - 1)
        lesion = _ellipsoid(grid, centre, np.full(3, rng.uniform(0.025, 0.05)))
        label[lesion & (label == 1)] = 5
    image = np.full(shape, -1000.0, dtype=np.float32)
    image[body] = 20.0
    for index, hu in _HU.items():
        image[label == index] = hu
    image += rng.normal(0, 12, shape).astype(np.float32)
    return Phantom(image, label, spacing)
