"""The windows of one scene (or of two co-registered dates) as a dataset, for prediction.

Samples are read window by window (GDAL windowed reads), so a scene of any size is never
held in memory. Each sample is ``{"image", "valid", "window"}``: the normalised window
(``(C, S, S)``, or ``(2, C, S, S)`` for two dates), its validity mask (``(S, S)``; a pixel
is invalid where the input is nodata or outside the scene, in either date) and
``(row, col, strip)`` of its :class:`~vitp_torchgeo.datasets.windows.PlannedWindow`.
Invalid pixels are set to the band mean (0 after normalisation).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rasterio.crs import CRS
from rasterio.io import DatasetReader
from rasterio.transform import Affine
from rasterio.windows import Window
from torch import Tensor
from torch.utils.data import Dataset

from vitp_torchgeo.datasets.rasters import (
    RasterInputError,
    check_coregistered,
    open_raster,
    read_window,
)
from vitp_torchgeo.datasets.windows import WindowPlan

__all__ = ["SceneInfo", "SceneWindowDataset", "describe_scene"]


@dataclass
class SceneInfo:
    """Grid and georeferencing of the scene being predicted.

    Attributes:
        paths: The input raster(s): one scene, or two dates.
        width: Scene width (px).
        height: Scene height (px).
        crs: Coordinate reference system, ``None`` when the input has none.
        transform: Geotransform (identity for non-georeferenced inputs).
        band_indexes: 1-based bands read from each input.
        plan: The windows visited.
    """

    paths: list[Path]
    width: int
    height: int
    crs: CRS | None
    transform: Affine
    band_indexes: list[list[int]]
    plan: WindowPlan


class SceneWindowDataset(Dataset[dict[str, Tensor]]):
    """Normalised windows of a scene, in the order of a :class:`WindowPlan`."""

    def __init__(
        self,
        scene: SceneInfo,
        mean: Sequence[Sequence[float]],
        std: Sequence[Sequence[float]],
    ) -> None:
        """Initialize a new SceneWindowDataset.

        Args:
            scene: The scene, its bands and windows.
            mean: Per-band mean of each input (one list per date).
            std: Per-band standard deviation of each input.
        """
        self.scene = scene
        self.mean = [np.asarray(m, dtype=np.float32)[:, None, None] for m in mean]
        self.std = [np.asarray(s, dtype=np.float32)[:, None, None] for s in std]
        self._handles: dict[int, list[DatasetReader]] = {}

    def __len__(self) -> int:
        """Number of window visits."""
        return len(self.scene.plan)

    def _sources(self) -> list[DatasetReader]:
        """Rasters opened once per process (DataLoader workers each open their own)."""
        pid = os.getpid()
        if pid not in self._handles:
            self._handles = {pid: [open_raster(path) for path in self.scene.paths]}
        return self._handles[pid]

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        """Window visit ``index``: image, validity mask and position."""
        planned = self.scene.plan.windows[index]
        size = self.scene.plan.size
        window = Window(planned.col, planned.row, size, size)
        images, valid = [], np.ones((size, size), dtype=bool)
        for src, indexes, mean, std in zip(
            self._sources(), self.scene.band_indexes, self.mean, self.std, strict=True
        ):
            data, inside = read_window(src, indexes, window)
            images.append((data - mean) / std)
            valid &= inside
        for image in images:
            image[:, ~valid] = 0.0
        stacked = images[0] if len(images) == 1 else np.stack(images)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(stacked)),
            "valid": torch.from_numpy(valid),
            "window": torch.tensor([planned.row, planned.col, planned.strip]),
        }

    def __getstate__(self) -> dict[str, object]:
        """Pickle without open raster handles (spawned DataLoader workers reopen them)."""
        state = self.__dict__.copy()
        state["_handles"] = {}
        return state


def describe_scene(
    paths: Sequence[str | os.PathLike[str]],
    band_indexes: Sequence[Sequence[int]],
) -> tuple[int, int, CRS | None, Affine]:
    """Size and georeferencing of a scene, checking that several dates are co-registered.

    Returns:
        ``(width, height, crs, transform)`` of the first raster.

    Raises:
        MisregisteredPairError: When the dates' grids differ.
        RasterInputError: When the dates' band counts differ.
    """
    sources = [open_raster(path) for path in paths]
    try:
        first = sources[0]
        for path, src in zip(paths[1:], sources[1:], strict=True):
            check_coregistered(paths[0], first, path, src)
        counts = {len(indexes) for indexes in band_indexes}
        if len(counts) > 1:
            raise RasterInputError(
                f"{list(map(str, paths))} select different numbers of bands "
                f"{[len(i) for i in band_indexes]}; both dates must give the model the same bands."
            )
        return first.width, first.height, first.crs, first.transform
    finally:
        for src in sources:
            src.close()
