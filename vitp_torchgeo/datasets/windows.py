"""The order in which scene prediction visits overlapping windows, and their blending weights.

A scene is cut into vertical *strips* of at most ``strip_width`` pixels. Within a strip,
windows are visited row by row; every window of the scene's window grid that overlaps the
strip is visited (those straddling two strips are visited once for each, and each visit
contributes only inside its strip). So every pixel receives the contributions of all the
windows covering it, exactly as if the whole scene were blended at once, while the state
held at any time is one band of ``window + block`` rows by ``strip_width`` columns:
memory does not grow with the scene's size.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

__all__ = ["PlannedWindow", "WindowPlan", "blend_weights", "window_starts"]


def window_starts(length: int, size: int, stride: int, shift_last: bool = True) -> list[int]:
    """Starts of windows of ``size`` px every ``stride`` px covering ``length`` px.

    With ``shift_last`` the last window is shifted back to end at the edge (nothing is
    padded unless the scene is smaller than one window, which then starts at 0 and runs
    past the edge); without, windows stay on the regular grid and the last one may run
    past the edge (a tiling, for one prediction per window).
    """
    if not shift_last:
        return list(range(0, length, stride))
    if length <= size:
        return [0]
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] + size < length:
        starts.append(length - size)
    return starts


def blend_weights(size: int, floor: float = 1e-3) -> np.ndarray:
    """Weights of a window's pixels when blending overlapping windows.

    A separable Hann (raised cosine) taper: pixels near a window's edge, where the
    model sees least context, count least; with 50 % overlap the tapers of neighbouring
    windows sum to a constant, so the blend is a smooth cross-fade without seams.
    ``floor`` keeps the scene's outermost pixels (covered by one window only) defined.

    Args:
        size: Window side in pixels.
        floor: Smallest weight.

    Returns:
        Array of shape ``(size, size)``, float32, values in ``[floor, 1]``.
    """
    ramp = np.sin(np.pi * (np.arange(size) + 0.5) / size) ** 2
    ramp = np.maximum(ramp, floor)
    return np.outer(ramp, ramp).astype(np.float32)


@dataclass(frozen=True)
class PlannedWindow:
    """One visit of a window.

    Attributes:
        row: Top row of the window in the scene (px).
        col: Left column of the window in the scene (px).
        strip: Index of the strip this visit contributes to.
    """

    row: int
    col: int
    strip: int


@dataclass
class WindowPlan:
    """Overlapping windows over a scene, in strip / row / column order.

    Attributes:
        height: Scene height (px).
        width: Scene width (px).
        size: Window side (px).
        stride: Step between windows (px).
        strip_width: Width of a strip (px), a multiple of ``block``.
        block: Output block side (px): rows are written in multiples of it.
        shift_last: Shift the last window of each row/column back inside the scene
            (see :func:`window_starts`); ``False`` keeps a regular grid.
    """

    height: int
    width: int
    size: int
    stride: int
    strip_width: int = 2048
    block: int = 256
    shift_last: bool = True
    row_starts: list[int] = field(init=False)
    col_starts: list[int] = field(init=False)
    strips: list[tuple[int, int]] = field(init=False)
    windows: list[PlannedWindow] = field(init=False)

    def __post_init__(self) -> None:
        if self.size <= 0 or not 0 < self.stride <= self.size:
            raise ValueError(
                f"Need 0 < stride <= size, got size={self.size}, stride={self.stride}."
            )
        self.strip_width = max(self.block, self.strip_width // self.block * self.block)
        self.row_starts = window_starts(self.height, self.size, self.stride, self.shift_last)
        self.col_starts = window_starts(self.width, self.size, self.stride, self.shift_last)
        edges = [*range(0, self.width, self.strip_width), self.width]
        self.strips = list(itertools.pairwise(edges))
        self.windows = [
            PlannedWindow(row, col, index)
            for index, (left, right) in enumerate(self.strips)
            for row in self.row_starts
            for col in self.col_starts
            if col < right and col + self.size > left
        ]

    @classmethod
    def from_overlap(
        cls, height: int, width: int, size: int, overlap: float, **kwargs: int
    ) -> WindowPlan:
        """Plan windows of ``size`` px overlapping by ``overlap`` (a share in ``[0, 1)``)."""
        if not 0.0 <= overlap < 1.0:
            raise ValueError(f"overlap={overlap} must be in [0, 1).")
        stride = max(1, round(size * (1.0 - overlap)))
        return cls(height, width, size, stride, **kwargs)

    def __len__(self) -> int:
        """Number of window visits."""
        return len(self.windows)

    def __iter__(self) -> Iterator[PlannedWindow]:
        """Window visits in processing order."""
        return iter(self.windows)

    @property
    def band_rows(self) -> int:
        """Rows of the accumulation band: one window plus one output block."""
        return self.size + self.block

    @property
    def grid_shape(self) -> tuple[int, int]:
        """Number of window rows and columns of the scene's grid."""
        return len(self.row_starts), len(self.col_starts)

    def duplicate_share(self) -> float:
        """Share of visits that repeat a window already visited for another strip."""
        unique = math.prod(self.grid_shape)
        return (len(self.windows) - unique) / len(self.windows)
