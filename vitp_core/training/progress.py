"""Progress bars that count optimizer steps in runs bounded by ``max_steps``.

Lightning's bars describe the epoch as ``Epoch 3/<max_epochs - 1>``, which reads
``Epoch 3/-2`` when only ``max_steps`` bounds the run (``max_epochs: -1``). vitp's bars
show ``Epoch 3`` then, and add ``step 12/40`` (optimizer steps done / ``max_steps``) to
the metrics of every bar.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ProgressBar, RichProgressBar, TQDMProgressBar
from lightning.pytorch.utilities.imports import _RICH_AVAILABLE

__all__ = ["StepProgressMixin", "make_progress_bar", "step_text", "train_description"]


def train_description(current_epoch: int, max_epochs: int | None) -> str:
    """``Epoch 3/9`` when epochs bound the run, else ``Epoch 3``."""
    if max_epochs is not None and max_epochs > 0:
        return f"Epoch {current_epoch}/{max_epochs - 1}"
    return f"Epoch {current_epoch}"


def step_text(global_step: int, max_steps: int | None) -> str:
    """``12/40`` when ``max_steps`` bounds the run, else ``12``."""
    return (
        f"{global_step}/{max_steps}"
        if max_steps is not None and max_steps > 0
        else str(global_step)
    )


class StepProgressMixin:
    """Adds the optimizer step to the bar's metrics and fixes the epoch description."""

    trainer: L.Trainer

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        """The bar's metrics with ``step`` first."""
        metrics = super().get_metrics(trainer, pl_module)  # type: ignore[misc]
        metrics.pop("v_num", None)
        return {"step": step_text(trainer.global_step, trainer.max_steps), **metrics}

    def _get_train_description(self, current_epoch: int) -> str:
        return train_description(current_epoch, self.trainer.max_epochs)


class RichStepProgressBar(StepProgressMixin, RichProgressBar):
    """Rich progress bar with optimizer steps (see module doc)."""


class TQDMStepProgressBar(StepProgressMixin, TQDMProgressBar):
    """TQDM progress bar with optimizer steps (see module doc)."""

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(
            train_description(trainer.current_epoch, trainer.max_epochs)
        )


def make_progress_bar() -> ProgressBar:
    """Rich when it is installed (as Lightning chooses), else TQDM."""
    return RichStepProgressBar() if _RICH_AVAILABLE else TQDMStepProgressBar()
