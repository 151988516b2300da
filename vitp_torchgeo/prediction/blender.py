"""Weighted blending of overlapping window predictions, one strip and one row band at a time."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vitp_torchgeo.datasets.windows import PlannedWindow, WindowPlan, blend_weights

__all__ = ["FinishedRows", "StripBlender"]

#: Receives finished rows: ``(probabilities (C, rows, cols), valid (rows, cols), row, col)``.
FinishedRows = Callable[[np.ndarray, np.ndarray, int, int], None]


class StripBlender:
    """Accumulates ``sum(w * p)`` and ``sum(w)`` over the windows covering each pixel.

    Windows must arrive in :class:`WindowPlan` order. Rows that no later window can touch
    are normalised (``sum(w * p) / sum(w)``) and handed to ``emit`` in multiples of
    ``plan.block`` rows (the last rows of a strip at once), so that writes are whole
    output blocks. Pixels no valid window pixel covered come out invalid.

    Memory: ``(channels + 1) * plan.band_rows * plan.strip_width`` float32 values,
    whatever the scene's size.
    """

    def __init__(self, plan: WindowPlan, channels: int, emit: FinishedRows) -> None:
        """Initialize a new StripBlender.

        Args:
            plan: The windows, in the order they will be added.
            channels: Channels of each window prediction (classes, or 1).
            emit: Receives finished rows.
        """
        self.plan = plan
        self.emit = emit
        self.weights = blend_weights(plan.size)
        self._sum = np.zeros((channels, plan.band_rows, plan.strip_width), dtype=np.float32)
        self._weight = np.zeros((plan.band_rows, plan.strip_width), dtype=np.float32)
        self._strip: int | None = None
        self._top = 0

    def add(self, window: PlannedWindow, probabilities: np.ndarray, valid: np.ndarray) -> None:
        """Add one window's prediction.

        Args:
            window: Where the window lies and which strip it feeds.
            probabilities: Shape ``(C, size, size)``.
            valid: Shape ``(size, size)``; invalid pixels contribute nothing.
        """
        if window.strip != self._strip:
            self._finish_strip()
            self._strip, self._top = window.strip, 0
        self._flush(until=window.row)
        left, right = self.plan.strips[window.strip]
        size = self.plan.size
        rows = slice(0, min(size, self.plan.height - window.row))
        c0, c1 = max(window.col, left), min(window.col + size, right)
        cols = slice(c0 - window.col, c1 - window.col)
        band_rows = slice(window.row - self._top, window.row - self._top + rows.stop)
        band_cols = slice(c0 - left, c1 - left)
        weight = self.weights[rows, cols] * valid[rows, cols]
        self._weight[band_rows, band_cols] += weight
        self._sum[:, band_rows, band_cols] += probabilities[:, rows, cols] * weight

    def finish(self) -> None:
        """Hand out the rows of the last strip."""
        self._finish_strip()
        self._strip = None

    def _finish_strip(self) -> None:
        if self._strip is not None:
            self._flush(until=self.plan.height, final=True)

    def _flush(self, until: int, final: bool = False) -> None:
        """Emit rows ``[top, until)`` (whole blocks of them unless ``final``)."""
        count = until - self._top
        if not final:
            count = count // self.plan.block * self.plan.block
        if count <= 0:
            return
        assert self._strip is not None
        left, right = self.plan.strips[self._strip]
        width = right - left
        weight = self._weight[:count, :width]
        valid = weight > 0
        probabilities = self._sum[:, :count, :width] / np.where(valid, weight, 1.0)
        self.emit(probabilities, valid, self._top, left)
        self._shift(count)
        self._top += count

    def _shift(self, count: int) -> None:
        """Drop the first ``count`` rows of the band and zero the freed rows at its end."""
        keep = self.plan.band_rows - count
        if keep > 0:
            self._sum[:, :keep] = self._sum[:, count:].copy()
            self._weight[:keep] = self._weight[count:].copy()
        self._sum[:, max(keep, 0) :] = 0.0
        self._weight[max(keep, 0) :] = 0.0
