"""Connected regions of label masks: boxes and areas, for grounding and counting questions.

The labelling works on horizontal runs of foreground pixels joined across rows with a
union-find, so it needs only numpy (no SciPy) and runs in time proportional to the
number of runs. Masks larger than ``max_side`` are first subsampled (nearest), which is
plenty for boxes that are later rounded to 1/1000 of the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Region", "class_regions", "connected_boxes"]


@dataclass(frozen=True)
class Region:
    """One connected region of one class.

    Attributes:
        label: Class index in the mask.
        box: ``(x1, y1, x2, y2)`` in pixels of the full mask, ``x2``/``y2`` exclusive.
        area: Area in pixels of the full mask (estimated when the mask was subsampled).
    """

    label: int
    box: tuple[int, int, int, int]
    area: int


def _runs(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, starts and (exclusive) ends of the horizontal foreground runs, row-major."""
    padded = np.pad(binary.astype(np.int8), ((0, 0), (1, 1)))
    step = np.diff(padded, axis=1)
    rows, starts = np.nonzero(step == 1)
    _, ends = np.nonzero(step == -1)
    return rows, starts, ends


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _join_runs(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray, diagonal: bool) -> list:
    """Union-find parents joining runs that touch across consecutive rows."""
    parent = list(range(len(rows)))
    first = np.searchsorted(rows, np.arange(rows.max() + 2 if len(rows) else 1))
    slack = 1 if diagonal else 0
    for row in range(len(first) - 2):
        a, a_end = first[row], first[row + 1]
        b, b_end = first[row + 1], first[row + 2]
        if a == a_end or b == b_end or rows[b] != row + 1:
            continue
        while a < a_end and b < b_end:
            if starts[a] < ends[b] + slack and starts[b] < ends[a] + slack:
                ra, rb = _find(parent, a), _find(parent, b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
            if ends[a] < ends[b]:
                a += 1
            else:
                b += 1
    return parent


def connected_boxes(binary: np.ndarray, diagonal: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and areas of the connected regions of a boolean mask.

    Args:
        binary: Boolean mask of shape ``(H, W)``.
        diagonal: Join diagonal neighbours (8-connectivity) when true, else 4-connectivity.

    Returns:
        ``boxes`` of shape ``(N, 4)`` as ``x1, y1, x2, y2`` (exclusive ends) and ``areas``
        of shape ``(N,)`` in pixels, largest region first.
    """
    rows, starts, ends = _runs(binary)
    if len(rows) == 0:
        return np.zeros((0, 4), dtype=np.int64), np.zeros(0, dtype=np.int64)
    parent = _join_runs(rows, starts, ends, diagonal)
    roots = np.array([_find(parent, i) for i in range(len(parent))])
    _, component = np.unique(roots, return_inverse=True)
    n = component.max() + 1
    boxes = np.empty((n, 4), dtype=np.int64)
    boxes[:, 0] = np.iinfo(np.int64).max
    boxes[:, 1] = np.iinfo(np.int64).max
    boxes[:, 2:] = 0
    np.minimum.at(boxes[:, 0], component, starts)
    np.minimum.at(boxes[:, 1], component, rows)
    np.maximum.at(boxes[:, 2], component, ends)
    np.maximum.at(boxes[:, 3], component, rows + 1)
    areas = np.bincount(component, weights=ends - starts, minlength=n).astype(np.int64)
    order = np.argsort(-areas, kind="stable")
    return boxes[order], areas[order]


def class_regions(
    mask: np.ndarray,
    labels: list[int] | None = None,
    min_area_fraction: float = 0.0005,
    max_side: int = 512,
) -> list[Region]:
    """Connected regions of every class of a label mask, largest first.

    Args:
        mask: Integer label mask of shape ``(H, W)``.
        labels: Classes to look at (default: all values present).
        min_area_fraction: Regions smaller than this share of the image are dropped
            (speckle from anti-aliased or noisy masks).
        max_side: Masks with a longer side are subsampled to this many pixels first.

    Returns:
        Regions with boxes and areas in pixels of the full-size mask.
    """
    height, width = mask.shape
    step = max(1, int(np.ceil(max(height, width) / max_side)))
    small = mask[::step, ::step]
    wanted = np.unique(small) if labels is None else labels
    min_area = min_area_fraction * height * width
    regions = []
    for label in wanted:
        boxes, areas = connected_boxes(small == label)
        for box, area in zip(boxes * step, areas * step * step, strict=True):
            if area >= min_area:
                x1, y1, x2, y2 = (int(v) for v in box)
                regions.append(
                    Region(int(label), (x1, y1, min(x2, width), min(y2, height)), int(area))
                )
    return sorted(regions, key=lambda r: -r.area)
