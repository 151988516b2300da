"""InternVL grounding text: boxes normalised to 0-1000 inside ``<ref>``/``<box>`` tags.

A grounded answer names a phrase and its boxes::

    <ref>airplane</ref><box>[[120, 40, 380, 260], [600, 610, 700, 720]]</box>

Each box is ``[x1, y1, x2, y2]`` with ``0 <= x1 <= x2 <= 1000`` and ``0 <= y1 <= y2 <= 1000``,
the pixel box divided by the image width/height and multiplied by 1000.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

__all__ = [
    "BOX_SCALE",
    "format_boxes",
    "format_grounding",
    "normalize_box",
    "parse_boxes",
    "position_phrase",
]

#: Box coordinates are integers in ``[0, BOX_SCALE]``.
BOX_SCALE = 1000
_BOX_RE = re.compile(r"<box>(.*?)</box>", re.DOTALL)


def normalize_box(box_xyxy: Sequence[float], width: int, height: int) -> list[int]:
    """Normalise a pixel box ``[x1, y1, x2, y2]`` (x2/y2 exclusive) to 0-1000 integers.

    Args:
        box_xyxy: Box in pixels; ``x2``/``y2`` are the right/bottom edges.
        width: Image width in pixels.
        height: Image height in pixels.

    Returns:
        ``[x1, y1, x2, y2]`` rounded and clipped to ``[0, 1000]``.
    """
    x1, y1, x2, y2 = box_xyxy
    scaled = (x1 / width, y1 / height, x2 / width, y2 / height)
    return [min(BOX_SCALE, max(0, round(v * BOX_SCALE))) for v in scaled]


def format_boxes(boxes: Sequence[Sequence[int]]) -> str:
    """``<box>[[x1, y1, x2, y2], ...]</box>`` for normalised boxes."""
    return "<box>" + json.dumps([list(map(int, b)) for b in boxes]) + "</box>"


def format_grounding(phrase: str, boxes: Sequence[Sequence[int]]) -> str:
    """``<ref>phrase</ref><box>[[...]]</box>`` for normalised boxes."""
    return f"<ref>{phrase}</ref>{format_boxes(boxes)}"


def parse_boxes(text: str) -> list[list[float]]:
    """All boxes inside ``<box>`` tags of a text, in order.

    Raises:
        ValueError: When a ``<box>`` tag does not hold a list of 4-number boxes.
    """
    boxes: list[list[float]] = []
    for body in _BOX_RE.findall(text):
        try:
            value = json.loads(body)
        except json.JSONDecodeError as err:
            raise ValueError(f"<box> content {body!r} is not a JSON list of boxes.") from err
        items = value if value and isinstance(value[0], list) else [value]
        for box in items:
            if not (isinstance(box, list) and len(box) == 4):
                raise ValueError(f"<box> entry {box!r} is not [x1, y1, x2, y2].")
            if not all(isinstance(v, int | float) for v in box):
                raise ValueError(f"<box> entry {box!r} holds non-numbers.")
            boxes.append([float(v) for v in box])
    return boxes


def position_phrase(box: Sequence[float]) -> str:
    """Where a normalised box's centre lies on a 3 x 3 grid, e.g. ``"top left"``."""
    cx = (box[0] + box[2]) / 2 / BOX_SCALE
    cy = (box[1] + box[3]) / 2 / BOX_SCALE
    row = ("top", "middle", "bottom")[min(2, int(cy * 3))]
    col = ("left", "center", "right")[min(2, int(cx * 3))]
    if row == "middle" and col == "center":
        return "center"
    if row == "middle":
        return f"middle {col}"
    return f"{row} {col}" if col != "center" else f"{row} center"
