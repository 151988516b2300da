"""Checks of a batch before a ViTP TorchGeo task computes on it.

A wrong batch otherwise fails deep inside the model (a shape error in a convolution, a
CUDA assert in the loss) or, worse, trains on NaN. Each check raises a ``ValueError`` in
one line that names the stage and batch, what is wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

__all__ = ["BatchError", "check_image", "check_targets"]


class BatchError(ValueError):
    """A batch a ViTP task cannot compute on."""


def check_image(image: Any, *, dates: int, in_chans: int, where: str) -> None:
    """Check ``batch["image"]``: a finite float tensor of the task's rank and bands.

    Args:
        image: ``(B, C, H, W)``, or ``(B, T, C, H, W)`` with ``T = dates`` for change.
        dates: Dates per sample the task expects (1 or 2).
        in_chans: Bands the ViT's patch embedding takes.
        where: Stage and batch, e.g. ``"training batch 3"``.

    Raises:
        BatchError: On a non-tensor, a wrong rank or band count, or NaN/Inf values.
    """
    if not isinstance(image, Tensor):
        raise BatchError(f"{where}: 'image' is a {type(image).__name__}, not a tensor.")
    shape = "(B, C, H, W)" if dates == 1 else f"(B, {dates}, C, H, W)"
    if image.ndim != (4 if dates == 1 else 5) or (dates > 1 and image.shape[1] != dates):
        raise BatchError(
            f"{where}: 'image' has shape {tuple(image.shape)}, expected {shape}; check the "
            "datamodule (a missing batch dimension, or dates stacked on another axis)."
        )
    bands = image.shape[-3]
    if bands != in_chans:
        raise BatchError(
            f"{where}: 'image' has {bands} bands, the ViT takes {in_chans}; select the "
            "bands the task was built for (data: bands) or set model: in_channels."
        )
    if not image.is_floating_point():
        raise BatchError(
            f"{where}: 'image' is {image.dtype}, expected a float tensor; normalise the "
            "data (e.g. the datamodule's mean/std) before the task."
        )
    finite = torch.isfinite(image)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise BatchError(
            f"{where}: 'image' holds {bad} NaN/Inf values; fill or mask nodata in the "
            "datamodule (e.g. nodata -> 0 after normalisation) before training."
        )


def check_targets(batch: Mapping[str, Any], hparams: Mapping[str, Any], where: str) -> None:
    """Check class targets (``mask`` or ``label``) against the task's classes.

    Multiclass targets must lie in ``[0, num_classes)`` or equal ``ignore_index``; binary
    targets in ``{0, 1}`` or ``ignore_index``. Multilabel targets are not checked.

    Raises:
        BatchError: On a target value the loss cannot take.
    """
    task = hparams.get("task")
    for key in ("mask", "label"):
        target = batch.get(key)
        if not isinstance(target, Tensor) or task not in ("multiclass", "binary"):
            continue
        classes = int(hparams.get("num_classes") or 0) if task == "multiclass" else 2
        if classes <= 0:
            continue
        values = target.long()
        valid = (values >= 0) & (values < classes)
        ignore = hparams.get("ignore_index")
        if ignore is not None:
            valid |= values == int(ignore)
        if not bool(valid.all()):
            found = sorted({int(v) for v in values[~valid].unique()[:5]})
            allowed = f"0..{classes - 1}" + (f" or {ignore}" if ignore is not None else "")
            raise BatchError(
                f"{where}: '{key}' holds {found}, outside the {task} task's classes "
                f"({allowed}); map the labels (e.g. a remap table in the dataset) or set "
                "model: num_classes / ignore_index."
            )
