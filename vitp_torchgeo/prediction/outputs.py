"""Turning window predictions into scene products, one kind of task each.

* :class:`DenseSceneOutput` (segmentation, change detection): blended probabilities ->
  class raster COG (``uint8``, nodata 255, colour table) and optional probability COG
  (one band per class, percent ``0-100`` in ``uint8``, nodata 255).
* :class:`WindowClassOutput` (classification): one class per window -> a raster with one
  pixel per window and/or a GeoPackage/GeoJSON of window polygons with class and scores.
* :class:`DetectionOutput` (object detection): boxes of overlapping windows, merged by
  per-class non-maximum suppression -> GeoPackage/GeoJSON of box polygons.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vitp_torchgeo.datasets.scene import SceneInfo
from vitp_torchgeo.datasets.windows import PlannedWindow
from vitp_torchgeo.prediction.blender import StripBlender
from vitp_torchgeo.prediction.sinks import (
    VECTOR_SUFFIXES,
    CogRasterSink,
    check_writable,
    class_colormap,
    write_vector,
)

__all__ = ["DenseSceneOutput", "DetectionOutput", "SceneOutput", "WindowClassOutput"]

#: Nodata of class rasters (``uint8``) and of percent probability rasters.
NODATA_UINT8 = 255
#: Share of valid pixels a window needs to get a class (classification).
MIN_VALID_SHARE = 0.5


def _class_names(names: Sequence[str] | None, count: int) -> list[str]:
    if names is not None and len(names) == count:
        return list(names)
    return [f"class {i}" for i in range(count)]


def _is_vector(path: Path) -> bool:
    return path.suffix.lower() in VECTOR_SUFFIXES


class SceneOutput(ABC):
    """Receives window predictions in plan order and writes the scene's products."""

    def __init__(self, scene: SceneInfo, class_names: Sequence[str] | None, overwrite: bool):
        """Initialize a new SceneOutput.

        Args:
            scene: Grid, georeferencing and windows of the scene.
            class_names: Names of the classes, when known.
            overwrite: Replace existing output files.
        """
        self.scene = scene
        self.class_names = None if class_names is None else list(class_names)
        self.overwrite = overwrite

    @abstractmethod
    def add(self, prediction: Any, batch: dict[str, Tensor]) -> None:
        """Add a batch of window predictions (``predict_step`` output) and its batch."""

    @abstractmethod
    def finish(self) -> list[Path]:
        """Write the remaining data; return the files written."""

    @abstractmethod
    def abort(self) -> None:
        """Drop partial outputs after an error."""

    def _windows(self, batch: dict[str, Tensor]) -> list[PlannedWindow]:
        return [PlannedWindow(*map(int, w)) for w in batch["window"].cpu()]


class DenseSceneOutput(SceneOutput):
    """Per-pixel probabilities, blended, to a class raster and optional probabilities."""

    def __init__(
        self,
        scene: SceneInfo,
        output: str | os.PathLike[str],
        probabilities: str | os.PathLike[str] | None = None,
        class_names: Sequence[str] | None = None,
        threshold: float = 0.5,
        overwrite: bool = False,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Initialize a new DenseSceneOutput.

        Args:
            scene: The scene.
            output: Class raster (COG) path.
            probabilities: Probability raster (COG) path, or ``None``.
            class_names: Class names (binary tasks: ``["no change", "change"]`` style).
            threshold: Decision threshold of single-channel (binary) predictions.
            overwrite: Replace existing outputs.
            tags: Extra metadata written into both rasters.
        """
        super().__init__(scene, class_names, overwrite)
        self.output = check_writable(output, overwrite)
        self.probabilities = (
            None if probabilities is None else check_writable(probabilities, overwrite)
        )
        self.threshold = threshold
        self.tags = dict(tags or {})
        self._sinks: list[CogRasterSink] = []
        self._blender: StripBlender | None = None
        self._channels = 0

    def _open(self, channels: int) -> None:
        scene = self.scene
        self._channels = channels
        names = _class_names(self.class_names, max(channels, 2))
        common = {
            "width": scene.width,
            "height": scene.height,
            "crs": scene.crs,
            "transform": scene.transform,
            "nodata": NODATA_UINT8,
            "dtype": "uint8",
            "overwrite": self.overwrite,
        }
        tags = {**self.tags, "CLASSES": json.dumps(names)}
        self._sinks.append(
            CogRasterSink(
                self.output,
                count=1,
                overview_resampling="mode",
                descriptions=["class"],
                tags=tags,
                colormap=class_colormap(len(names)),
                **common,
            )
        )
        if self.probabilities is not None:
            described = names[1:] if channels == 1 else names
            self._sinks.append(
                CogRasterSink(
                    self.probabilities,
                    count=channels,
                    overview_resampling="average",
                    descriptions=[f"probability of {name} (%)" for name in described],
                    tags=tags,
                    **common,
                )
            )
        self._blender = StripBlender(scene.plan, channels, self._write_rows)

    def add(self, prediction: Tensor, batch: dict[str, Tensor]) -> None:
        """Blend a batch of ``(B, C, S, S)`` probabilities into the scene."""
        if len(self.class_names or []) > NODATA_UINT8:
            raise ValueError(f"At most {NODATA_UINT8} classes fit a uint8 class raster.")
        if self._blender is None:
            self._open(int(prediction.shape[1]))
        assert self._blender is not None
        probabilities = prediction.detach().float().cpu().numpy()
        valid = batch["valid"].cpu().numpy()
        for window, probs, mask in zip(self._windows(batch), probabilities, valid, strict=True):
            self._blender.add(window, probs, mask)

    def _write_rows(self, probabilities: np.ndarray, valid: np.ndarray, row: int, col: int) -> None:
        if self._channels == 1:
            classes = (probabilities[0] >= self.threshold).astype(np.uint8)
        else:
            classes = probabilities.argmax(axis=0).astype(np.uint8)
        classes[~valid] = NODATA_UINT8
        self._sinks[0].write(classes[None], row, col)
        if len(self._sinks) > 1:
            percent = np.rint(np.clip(probabilities, 0.0, 1.0) * 100.0).astype(np.uint8)
            percent[:, ~valid] = NODATA_UINT8
            self._sinks[1].write(percent, row, col)

    def finish(self) -> list[Path]:
        """Blend the last rows and finish the COGs."""
        if self._blender is None:
            raise RuntimeError("No window was predicted; nothing to write.")
        self._blender.finish()
        return [sink.close() for sink in self._sinks]

    def abort(self) -> None:
        """Remove partial rasters."""
        for sink in self._sinks:
            sink.abort()


class WindowClassOutput(SceneOutput):
    """One class per window (scene classification tile by tile)."""

    def __init__(
        self,
        scene: SceneInfo,
        outputs: Sequence[str | os.PathLike[str]],
        class_names: Sequence[str] | None = None,
        threshold: float = 0.5,
        overwrite: bool = False,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Initialize a new WindowClassOutput.

        Args:
            scene: The scene (its plan tiles it: stride = window).
            outputs: Raster (``.tif``: one pixel per window) and/or vector
                (``.gpkg``/``.geojson``: one polygon per window) paths.
            class_names: Class names.
            threshold: Decision threshold of single-output (binary) classifiers.
            overwrite: Replace existing outputs.
            tags: Extra metadata for the raster.
        """
        super().__init__(scene, class_names, overwrite)
        self.outputs = [check_writable(path, overwrite) for path in outputs]
        self.threshold = threshold
        self.tags = dict(tags or {})
        rows, cols = scene.plan.grid_shape
        self._classes = np.full((rows, cols), NODATA_UINT8, dtype=np.uint8)
        self._scores: np.ndarray | None = None

    def add(self, prediction: Tensor, batch: dict[str, Tensor]) -> None:
        """Record ``(B, K)`` class probabilities of a batch of windows."""
        probabilities = prediction.detach().float().cpu().numpy().reshape(len(prediction), -1)
        if self._scores is None:
            self._scores = np.full((*self._classes.shape, probabilities.shape[1]), np.nan)
        valid_share = batch["valid"].float().mean(dim=(-2, -1)).cpu().numpy()
        plan = self.scene.plan
        for window, probs, share in zip(
            self._windows(batch), probabilities, valid_share, strict=True
        ):
            if share < MIN_VALID_SHARE:
                continue
            i, j = window.row // plan.stride, window.col // plan.stride
            if probs.shape[0] == 1:
                self._classes[i, j] = int(probs[0] >= self.threshold)
            else:
                self._classes[i, j] = int(probs.argmax())
            self._scores[i, j] = probs

    def finish(self) -> list[Path]:
        """Write the window raster and/or the window polygons."""
        if self._scores is None:
            raise RuntimeError("No window was predicted; nothing to write.")
        written = []
        for path in self.outputs:
            written.append(
                self._write_vector(path) if _is_vector(path) else self._write_raster(path)
            )
        return written

    def abort(self) -> None:
        """Nothing to remove: outputs are written at the end only."""

    def _names(self) -> list[str]:
        assert self._scores is not None
        return _class_names(self.class_names, max(self._scores.shape[-1], 2))

    def _write_raster(self, path: Path) -> Path:
        from rasterio.transform import Affine

        size = self.scene.plan.size
        rows, cols = self._classes.shape
        sink = CogRasterSink(
            path,
            width=cols,
            height=rows,
            count=1,
            dtype="uint8",
            crs=self.scene.crs,
            transform=self.scene.transform @ Affine.scale(size),
            nodata=NODATA_UINT8,
            overview_resampling="mode",
            descriptions=["class"],
            tags={**self.tags, "CLASSES": json.dumps(self._names()), "WINDOW_PX": str(size)},
            colormap=class_colormap(len(self._names())),
            overwrite=True,
        )
        sink.write(self._classes[None], 0, 0)
        return sink.close()

    def _write_vector(self, path: Path) -> Path:
        import geopandas as gpd

        assert self._scores is not None
        names, size = self._names(), self.scene.plan.size
        records, geometries = [], []
        for (i, j), label in np.ndenumerate(self._classes):
            if label == NODATA_UINT8:
                continue
            row, col = i * size, j * size
            bottom, right = min(row + size, self.scene.height), min(col + size, self.scene.width)
            geometries.append(_pixel_box(self.scene, col, row, right, bottom))
            scores = self._scores[i, j]
            record = {"row": row, "col": col, "class": int(label), "class_name": names[int(label)]}
            record["score"] = float(scores[0] if scores.shape[0] == 1 else scores[label])
            if scores.shape[0] > 1:
                record.update(
                    {f"p_{name}": float(p) for name, p in zip(names, scores, strict=True)}
                )
            records.append(record)
        columns = ["row", "col", "class", "class_name", "score"]
        if self._scores.shape[-1] > 1:
            columns += [f"p_{name}" for name in names]
        frame = gpd.GeoDataFrame(records, columns=columns, geometry=geometries, crs=self.scene.crs)
        return write_vector(frame, path, overwrite=True)


def _pixel_box(scene: SceneInfo, left: float, top: float, right: float, bottom: float) -> Any:
    """Polygon of a pixel rectangle in the scene's coordinates."""
    from shapely.geometry import Polygon

    corners = ((left, top), (right, top), (right, bottom), (left, bottom))
    return Polygon([scene.transform @ corner for corner in corners])


class DetectionOutput(SceneOutput):
    """Boxes of overlapping windows, merged by per-class NMS, as polygons."""

    def __init__(
        self,
        scene: SceneInfo,
        output: str | os.PathLike[str],
        class_names: Sequence[str] | None = None,
        min_score: float = 0.5,
        iou_threshold: float = 0.5,
        overwrite: bool = False,
    ) -> None:
        """Initialize a new DetectionOutput.

        Args:
            scene: The scene.
            output: Vector path (``.gpkg``, ``.geojson``).
            class_names: Class names (index 0 is the background).
            min_score: Boxes scoring less are dropped.
            iou_threshold: IoU above which NMS keeps only the best of two boxes.
            overwrite: Replace an existing output.
        """
        super().__init__(scene, class_names, overwrite)
        self.output = check_writable(output, overwrite)
        if not _is_vector(self.output):
            raise ValueError(f"{output}: detections are written as {sorted(VECTOR_SUFFIXES)}.")
        self.min_score = min_score
        self.iou_threshold = iou_threshold
        self._boxes: list[Tensor] = []
        self._scores: list[Tensor] = []
        self._labels: list[Tensor] = []

    def add(self, prediction: list[dict[str, Tensor]], batch: dict[str, Tensor]) -> None:
        """Shift each window's boxes into scene pixels and keep the confident ones."""
        for window, found in zip(self._windows(batch), prediction, strict=True):
            keep = found["scores"] >= self.min_score
            boxes = found["boxes"][keep].detach().float().cpu()
            boxes[:, [0, 2]] = (boxes[:, [0, 2]] + window.col).clamp(0, self.scene.width)
            boxes[:, [1, 3]] = (boxes[:, [1, 3]] + window.row).clamp(0, self.scene.height)
            self._boxes.append(boxes)
            self._scores.append(found["scores"][keep].detach().float().cpu())
            self._labels.append(found["labels"][keep].detach().cpu())

    def abort(self) -> None:
        """Nothing to remove: the file is written at the end only."""

    def finish(self) -> list[Path]:
        """Merge duplicates across windows and write the polygons."""
        import geopandas as gpd
        from torchvision.ops import batched_nms

        boxes = torch.cat(self._boxes) if self._boxes else torch.zeros(0, 4)
        scores = torch.cat(self._scores) if self._scores else torch.zeros(0)
        labels = torch.cat(self._labels) if self._labels else torch.zeros(0, dtype=torch.long)
        keep = batched_nms(boxes, scores, labels, self.iou_threshold)
        count = int(labels.max()) + 1 if len(labels) else 1
        names = _class_names(self.class_names, max(count, len(self.class_names or [])))
        records, geometries = [], []
        for index in keep.tolist():
            x0, y0, x1, y1 = boxes[index].tolist()
            label = int(labels[index])
            geometries.append(_pixel_box(self.scene, x0, y0, x1, y1))
            records.append(
                {"class": label, "class_name": names[label], "score": float(scores[index])}
            )
        # typed columns, also when no box was found (a GeoPackage keeps its schema then;
        # GeoJSON has no schema: an empty one is a FeatureCollection without features)
        dtypes = {"class": "int64", "class_name": "str", "score": "float64"}
        frame = gpd.GeoDataFrame(
            records, columns=list(dtypes), geometry=geometries, crs=self.scene.crs
        ).astype(dtypes)
        return [write_vector(frame, self.output, overwrite=True)]
