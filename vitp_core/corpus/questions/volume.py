"""Questions about labelled 3D volumes: one slice, or the whole volume via a few slices.

Slice records reuse the mask questions (structures present, shares, boxes) and add the
plane and the physical extent of a structure in millimetres. Whole-volume records
show three orthogonal slices and ask about every structure's size and extent in 3D.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from vitp_core.corpus.phrasing import article, join_names
from vitp_core.corpus.questions.segmentation import MaskLabels, MaskSummary

__all__ = [
    "StructureExtent",
    "plane_question",
    "slice_extent_question",
    "volume_extents",
    "volume_questions",
]

QA = tuple[str, str]
#: Axes of a canonical (RAS+) volume and the plane a slice across each one shows.
PLANE_OF_AXIS = {0: "sagittal", 1: "coronal", 2: "axial"}


@dataclass(frozen=True)
class StructureExtent:
    """Size of one labelled structure in a volume.

    Attributes:
        name: Structure name.
        volume_ml: Volume in millilitres.
        extent_mm: Extent along the left-right, posterior-anterior and inferior-superior
            axes, in millimetres.
        side: ``"right"`` or ``"left"`` of the patient when the volume spans the whole
            body width (its centre column is the midline), else ``None``.
    """

    name: str
    volume_ml: float
    extent_mm: tuple[float, float, float]
    side: str | None = None


def volume_extents(
    labels_volume: np.ndarray,
    spacing_mm: tuple[float, float, float],
    labels: MaskLabels,
    midline: bool = False,
) -> list[StructureExtent]:
    """Volume and bounding extent of every labelled structure of a RAS+ label volume.

    Args:
        labels_volume: Integer ``(X, Y, Z)`` label map in RAS+ orientation.
        spacing_mm: Voxel size along X, Y, Z in millimetres.
        labels: Meaning of the label values.
        midline: The volume is centred on the body's midline, so a structure whose
            centre has a larger ``x`` (RAS+: towards the patient's right) is on the right.

    Returns:
        One entry per present structure, largest volume first.
    """
    voxel_ml = float(np.prod(spacing_mm)) / 1000.0
    extents = []
    for value, name in labels.names.items():
        if value in labels.ignore:
            continue
        where = np.nonzero(labels_volume == value)
        if len(where[0]) == 0:
            continue
        size = tuple(
            float((w.max() - w.min() + 1) * s) for w, s in zip(where, spacing_mm, strict=True)
        )
        side = None
        if midline:
            side = "right" if where[0].mean() > (labels_volume.shape[0] - 1) / 2 else "left"
        extents.append(StructureExtent(name, len(where[0]) * voxel_ml, size, side))  # type: ignore[arg-type]
    return sorted(extents, key=lambda e: -e.volume_ml)


def plane_question(plane: str, rng: random.Random) -> QA:
    """Which anatomical plane a slice shows."""
    question = rng.choice(
        ["Which plane is this slice in?", "Is this an axial, coronal or sagittal slice?"]
    )
    return question, f"It is {article(plane)} slice."


def slice_extent_question(
    summary: MaskSummary, labels: MaskLabels, pixel_mm: tuple[float, float], rng: random.Random
) -> QA | None:
    """Width x height in millimetres of one structure's largest region in a slice.

    Args:
        summary: Facts of the slice's label mask.
        labels: Meaning of the label values.
        pixel_mm: Pixel width and height in millimetres.
        rng: Seeded generator.
    """
    candidates = [k for k in summary.present if summary.regions.get(k)]
    if not candidates:
        return None
    k = rng.choice(candidates)
    x1, y1, x2, y2 = summary.regions[k][0].box
    width, height = (x2 - x1) * pixel_mm[0], (y2 - y1) * pixel_mm[1]
    name = labels.names[k]
    question = rng.choice(
        [f"How large is the {name} in this slice?", f"What is the in-plane extent of the {name}?"]
    )
    return question, f"About {width:.0f} mm wide and {height:.0f} mm high."


def volume_questions(
    extents: list[StructureExtent], labels: MaskLabels, rng: random.Random, n_questions: int = 3
) -> list[QA]:
    """Questions about a whole volume shown as three orthogonal slices.

    Args:
        extents: Structures present, largest first (see :func:`volume_extents`).
        labels: Meaning of the label values (for absent structures).
        rng: Seeded generator.
        n_questions: Maximum number of pairs.
    """
    present = [e.name for e in extents]
    absent = [n for k, n in labels.names.items() if k not in labels.ignore and n not in present]
    pairs: list[QA] = []
    if present:
        pairs.append(
            (
                rng.choice(
                    [
                        "These are axial, coronal and sagittal slices of one scan. "
                        f"Which {labels.noun} are labelled in the volume?",
                        "Looking at the three orthogonal slices, "
                        f"which {labels.noun} does this volume contain?",
                    ]
                ),
                join_names(present).capitalize() + ".",
            )
        )
        e = rng.choice(extents)
        pairs.append(
            (
                f"What is the size of the {e.name} in the whole volume?",
                f"About {e.volume_ml:.1f} mL, spanning {e.extent_mm[0]:.0f} mm left-right, "
                f"{e.extent_mm[1]:.0f} mm front-back and {e.extent_mm[2]:.0f} mm top-bottom.",
            )
        )
    if len(extents) >= 2 and extents[0].volume_ml > 1.1 * extents[1].volume_ml:
        a, b = rng.sample(extents[:2], 2)
        larger = extents[0].name
        pairs.append(
            (f"Which is larger, the {a.name} or the {b.name}?", f"The {larger} is larger.")
        )
    sided = [e for e in extents if e.side]
    if sided:
        e = rng.choice(sided)
        question = f"On which side of the patient is the {e.name}?"
        pairs.append((question, f"On the patient's {e.side} side."))
    if absent:
        name = rng.choice(absent)
        pairs.append(
            (f"Is the {name} present in this volume?", f"No, there is no {name} in this volume.")
        )
    rng.shuffle(pairs)
    return pairs[:n_questions]
