"""Lightning prediction writer: window predictions of ``trainer.predict`` -> scene products.

Put it in ``trainer.callbacks`` with :class:`~vitp_torchgeo.datamodules.ScenePredictionDataModule`
as the datamodule (``torchgeo predict --config ...``, or ``vitp predict``). It writes each
batch as it comes, turns off Lightning's collection of predictions (which would keep the
whole scene in memory) and bounds GDAL's block cache, so memory stays flat whatever the
scene's size.

Under ``torchgeo predict`` (LightningCLI), the run's configuration is saved beside the
predictions (``<output stem>.config.yaml``) instead of as ``config.yaml`` in the working
folder, where LightningCLI would put it for a run without a logger.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import rasterio
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.cli import SaveConfigCallback

from vitp_torchgeo.datasets.scene import SceneInfo
from vitp_torchgeo.prediction.outputs import (
    DenseSceneOutput,
    DetectionOutput,
    SceneOutput,
    WindowClassOutput,
)
from vitp_torchgeo.prediction.sinks import check_writable

__all__ = ["ScenePredictionWriter"]

_logger = logging.getLogger(__name__)


class ScenePredictionWriter(BasePredictionWriter):
    """Write the scene prediction of a ViTP task as COG rasters or vector files.

    * segmentation / change detection: ``output`` is the class raster (COG);
      ``probabilities`` an optional per-class probability COG (percent).
    * classification: ``output`` is a raster with one pixel per window (``.tif``) or the
      window polygons (``.gpkg``/``.geojson``); ``vector`` adds the other one.
    * detection: ``output`` is a ``.gpkg``/``.geojson`` of box polygons.
    """

    def __init__(
        self,
        output: str,
        probabilities: str | None = None,
        vector: str | None = None,
        overwrite: bool = False,
        threshold: float = 0.5,
        min_score: float = 0.5,
        class_names: Sequence[str] | None = None,
        gdal_cache_mb: int = 64,
    ) -> None:
        """Initialize a new ScenePredictionWriter.

        Args:
            output: Main output file (see the class docstring).
            probabilities: Per-class probability COG (dense tasks).
            vector: Second output of classification: window polygons or window raster.
            overwrite: Replace existing outputs (otherwise an existing file is an error).
            threshold: Decision threshold of binary (single-output) models.
            min_score: Lowest score of a kept detection.
            class_names: Class names; default the checkpoint's, else ``class <i>``.
            gdal_cache_mb: GDAL block cache while predicting (MiB).
        """
        super().__init__(write_interval="batch")
        self.output = output
        self.probabilities = probabilities
        self.vector = vector
        self.overwrite = overwrite
        self.threshold = threshold
        self.min_score = min_score
        self.class_names = None if class_names is None else list(class_names)
        self.gdal_cache_mb = gdal_cache_mb
        self.written: list[Path] = []
        self._product: SceneOutput | None = None
        self._stack = contextlib.ExitStack()

    @property
    def config_path(self) -> Path:
        """Where ``torchgeo predict`` saves the run's configuration: beside ``output``."""
        output = Path(self.output)
        return output.with_name(f"{output.stem}.config.yaml")

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Before anything is written: refuse existing outputs, place the saved config.

        Runs before LightningCLI's :class:`~lightning.pytorch.cli.SaveConfigCallback`
        (LightningCLI appends it after the configured callbacks), which then writes
        :attr:`config_path` instead of ``config.yaml`` in the working folder.
        """
        if stage != "predict":
            return
        savers = [c for c in trainer.callbacks if isinstance(c, SaveConfigCallback)]
        paths = [self.output, self.probabilities, self.vector]
        paths += [self.config_path] if savers else []
        for path in paths:
            if path is not None:
                check_writable(path, self.overwrite)
        for saver in savers:
            saver.config_filename = os.fspath(self.config_path.resolve())  # absolute: joined as is
            saver.overwrite = True  # checked above, under this writer's own overwrite rule

    def _scene(self, trainer: Trainer) -> SceneInfo:
        scene = getattr(trainer.datamodule, "scene", None)
        if not isinstance(scene, SceneInfo):
            raise RuntimeError(
                "ScenePredictionWriter needs vitp_torchgeo.datamodules.ScenePredictionDataModule "
                "as the datamodule (data: class_path: ...ScenePredictionDataModule)."
            )
        return scene

    def _make_output(
        self, scene: SceneInfo, module: LightningModule, ckpt: str | None
    ) -> SceneOutput:
        spec = getattr(module, "data_spec", None) or {}
        names = self.class_names or spec.get("classes")
        kind = getattr(module, "prediction_kind", "dense")
        tags = {
            "VITP_TASK": type(module).__name__,
            "VITP_INPUT": " ".join(os.fspath(p) for p in scene.paths),
            "VITP_CHECKPOINT": ckpt or "",
        }
        if kind == "dense":
            return DenseSceneOutput(
                scene, self.output, self.probabilities, names, self.threshold, self.overwrite, tags
            )
        if kind == "classification":
            outputs = [self.output] + ([self.vector] if self.vector else [])
            return WindowClassOutput(scene, outputs, names, self.threshold, self.overwrite, tags)
        if kind == "detection":
            return DetectionOutput(
                scene, self.output, names, self.min_score, overwrite=self.overwrite
            )
        raise ValueError(f"{type(module).__name__} has no scene prediction (kind {kind!r}).")

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Prepare the outputs; stop Lightning from keeping predictions."""
        if trainer.world_size > 1:
            raise RuntimeError("Scene prediction runs on one device; set trainer.devices: 1.")
        trainer.predict_loop.return_predictions = False
        self._stack.enter_context(rasterio.Env(GDAL_CACHEMAX=self.gdal_cache_mb))
        ckpt = (
            os.fspath(trainer.ckpt_path)
            if trainer.ckpt_path
            else getattr(pl_module, "checkpoint_path", None)
        )
        self._product = self._make_output(self._scene(trainer), pl_module, ckpt)
        self.written = []

    def write_on_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        """Hand a batch of window predictions to the scene product."""
        assert self._product is not None
        self._product.add(prediction, batch)

    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Finish and close the outputs."""
        try:
            assert self._product is not None
            self.written = self._product.finish()
            for path in self.written:
                _logger.info("Wrote %s", path)
        finally:
            self._product = None
            self._stack.close()

    def on_exception(
        self, trainer: Trainer, pl_module: LightningModule, exception: BaseException
    ) -> None:
        """Remove partial outputs."""
        if self._product is not None:
            self._product.abort()
            self._product = None
        self._stack.close()
