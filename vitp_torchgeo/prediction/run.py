"""``predict_scene``: the Python form of ``vitp predict`` (checkpoint + raster -> COG)."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Trainer

from vitp_torchgeo.datamodules.scene import ScenePredictionDataModule
from vitp_torchgeo.prediction.writer import ScenePredictionWriter
from vitp_torchgeo.trainers.base import CHECKPOINT_KEY, ViTPBaseTask

__all__ = ["TASK_NAMES", "load_task", "predict_scene", "predict_scene_with"]

_logger = logging.getLogger(__name__)

#: Short names of the ViTP tasks (``--task``) and their classes.
TASK_NAMES: dict[str, str] = {
    "classification": "vitp_torchgeo.trainers.ViTPClassificationTask",
    "segmentation": "vitp_torchgeo.trainers.ViTPSemanticSegmentationTask",
    "change": "vitp_torchgeo.trainers.ViTPChangeDetectionTask",
    "detection": "vitp_torchgeo.trainers.ViTPObjectDetectionTask",
}


def _import_task(path: str) -> type[ViTPBaseTask]:
    module_name, _, name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(f"Cannot import task class {path!r}: {err}.") from None
    if not (isinstance(cls, type) and issubclass(cls, ViTPBaseTask)):
        raise ValueError(f"{path} is not a ViTP TorchGeo task (a ViTPBaseTask subclass).")
    return cls


def load_task(checkpoint: str | os.PathLike[str], task: str | None = None) -> ViTPBaseTask:
    """Rebuild a fine-tuned ViTP task from its Lightning checkpoint, in eval mode.

    Args:
        checkpoint: ``.ckpt`` written by ``torchgeo fit`` / ``trainer.fit``.
        task: Class path or short name (``segmentation``, ``change``, ``classification``,
            ``detection``); default the class the checkpoint records. A class outside
            ``vitp_torchgeo`` is only imported when named here.

    Returns:
        The task with its weights and ``data_spec``.

    Raises:
        FileNotFoundError: When the checkpoint does not exist.
        ValueError: When the task class cannot be determined or imported.
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} not found.")
    if task is None:
        record = torch.load(path, map_location="cpu", weights_only=True).get(CHECKPOINT_KEY)
        task = (record or {}).get("task")
        if task is None:
            raise ValueError(
                f"{path} does not record its task class (written before vitp recorded it); "
                f"name it with --task ({', '.join(TASK_NAMES)})."
            )
        if not task.startswith("vitp_torchgeo."):
            raise ValueError(
                f"{path} was written by {task}; pass --task {task} to import that class."
            )
    cls = _import_task(TASK_NAMES.get(task, task))
    model = cls.load_from_checkpoint(path, map_location="cpu", weights_only=True)
    model.checkpoint_path = os.fspath(path)
    return model.eval()


def predict_scene(
    checkpoint: str | os.PathLike[str],
    image: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    task: str | None = None,
    **options: Any,
) -> list[Path]:
    """Predict a whole scene with a fine-tuned ViTP task and write georeferenced products.

    Settings left out come from the checkpoint (bands, mean/std, window size, class
    names).

    Args:
        checkpoint: ``.ckpt`` written by ``torchgeo fit`` / ``trainer.fit``.
        image: The scene (first date for change detection): any GDAL raster.
        output: Class raster (``.tif``, a COG), or a ``.gpkg``/``.geojson`` (classification
            windows, detections).
        task: Task class or short name, when the checkpoint does not record it
            (see :func:`load_task`).
        **options: Options of :func:`predict_scene_with` (``image2``, ``probabilities``,
            ``bands``, ``mean``, ``std``, ``window``, ``overlap``, ``overwrite``...).

    Returns:
        The files written.
    """
    return predict_scene_with(load_task(checkpoint, task), image, output, **options)


def predict_scene_with(
    model: ViTPBaseTask,
    image: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    image2: str | os.PathLike[str] | None = None,
    probabilities: str | os.PathLike[str] | None = None,
    vector: str | os.PathLike[str] | None = None,
    threshold: float = 0.5,
    min_score: float = 0.5,
    class_names: Sequence[str] | None = None,
    overwrite: bool = False,
    accelerator: str = "auto",
    progress: bool = False,
    **data_options: Any,
) -> list[Path]:
    """:func:`predict_scene` with a task already in memory (its ``data_spec`` set).

    Args:
        model: The task, in eval mode.
        image: The scene (first date for change detection).
        output: Main output (see :class:`~vitp_torchgeo.prediction.ScenePredictionWriter`).
        image2: Second date (change detection), on the first date's grid.
        probabilities: Per-class probability COG (dense tasks).
        vector: Classification: also write the window polygons (or raster) here.
        threshold: Decision threshold of binary (single-output) models.
        min_score: Lowest score of a kept detection (detection tasks; Faster R-CNN itself
            keeps none under its ``box_score_thresh``, 0.05).
        class_names: Class names for the outputs; default the checkpoint's.
        overwrite: Replace existing outputs (otherwise an existing file is an error).
        accelerator: Lightning accelerator (``cpu``, ``gpu``, ``auto``...).
        progress: Show Lightning's progress bar.
        **data_options: Further
            :class:`~vitp_torchgeo.datamodules.ScenePredictionDataModule` arguments:
            ``bands``, ``band_names``, ``mean``, ``std``, ``normalization``, ``window``,
            ``overlap``, ``batch_size``, ``num_workers``, ``strip_width``.

    Returns:
        The files written.
    """
    datamodule = ScenePredictionDataModule(
        os.fspath(image), None if image2 is None else os.fspath(image2), **data_options
    )
    writer = ScenePredictionWriter(
        os.fspath(output),
        probabilities=None if probabilities is None else os.fspath(probabilities),
        vector=None if vector is None else os.fspath(vector),
        overwrite=overwrite,
        threshold=threshold,
        min_score=min_score,
        class_names=class_names,
    )
    trainer = Trainer(
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        callbacks=[writer],
    )
    trainer.predict(model, datamodule=datamodule, return_predictions=False)
    return writer.written
