"""Non-finite training steps never reach the weights.

A step whose loss or gradients hold NaN/Inf (a diverging run, a bad batch, an fp16
overflow) is skipped: its gradients are dropped before the optimizer runs, so neither
the weights nor the optimizer's moments move. Skipped steps are counted; after
``max_in_a_row`` of them in a row the run stops with :class:`NonFiniteTrainingError`
instead of going on with a model that no longer learns. :class:`TrainingHealth` keeps
the counts (saved in checkpoints, so they survive a resume).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

__all__ = [
    "NonFiniteTrainingError",
    "NothingTrainedError",
    "TrainingHealth",
    "drop_gradients",
    "gradients_finite",
]


class NonFiniteTrainingError(RuntimeError):
    """Too many optimizer steps in a row had a non-finite loss or gradient."""


def gradients_finite(grads: Sequence[torch.Tensor]) -> bool:
    """Whether every value of every gradient is finite (one reduction per device)."""
    if not grads:
        return True
    norms = torch._foreach_norm([g.detach() for g in grads])  # NaN/Inf anywhere -> NaN/Inf norm
    return bool(torch.isfinite(torch.stack([n.to(norms[0].device) for n in norms])).all())


def drop_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """Remove the gradients of ``params``: optimizers then leave them (and their state) alone."""
    for param in params:
        param.grad = None


@dataclass
class TrainingHealth:
    """Counts of a run's optimizer steps, for the guard and the run summary.

    Attributes:
        max_in_a_row: Non-finite steps in a row that stop the run (0: never stop).
        nonfinite_steps: Steps skipped because the loss or a gradient was NaN/Inf.
        nonfinite_in_a_row: Current streak of such steps.
        trained_steps: Steps that updated the weights from real records.
        empty_steps: Steps skipped because every record of their batch was skipped.
        overflow_steps: fp16 steps whose loss was finite but whose scaled gradients
            overflowed: the gradient scaler skips them and lowers its scale (expected
            now and then; they do not count towards the streak).
        last_nonfinite_step: Optimizer step of the last non-finite one (-1: none).
    """

    max_in_a_row: int = 5
    nonfinite_steps: int = 0
    nonfinite_in_a_row: int = 0
    trained_steps: int = 0
    empty_steps: int = 0
    overflow_steps: int = 0
    last_nonfinite_step: int = -1

    def record(
        self, step: int, *, finite: bool, has_data: bool, scaler_overflow: bool = False
    ) -> bool:
        """Count one optimizer step and say whether it may update the weights.

        Args:
            step: The optimizer step (``trainer.global_step`` before it is taken).
            finite: Whether the loss and every gradient are finite.
            has_data: Whether at least one record contributed to the gradients.
            scaler_overflow: The loss was finite and a gradient scaler is in use: the
                non-finite gradients are its overflow, which it handles.

        Returns:
            ``True`` when the step may proceed.

        Raises:
            NonFiniteTrainingError: On the ``max_in_a_row``-th non-finite step in a row.
        """
        if not finite and scaler_overflow:
            self.overflow_steps += 1
            return False
        if not finite:
            self.nonfinite_steps += 1
            self.nonfinite_in_a_row += 1
            self.last_nonfinite_step = step
            if self.max_in_a_row and self.nonfinite_in_a_row >= self.max_in_a_row:
                raise NonFiniteTrainingError(self.stop_message(step))
            return False
        if not has_data:
            self.empty_steps += 1
            return False
        self.nonfinite_in_a_row = 0
        self.trained_steps += 1
        return True

    def stop_message(self, step: int) -> str:
        """The one-line error of a run stopped by non-finite steps."""
        return (
            f"stopped at step {step}: {self.nonfinite_in_a_row} optimizer steps in a row had a "
            f"NaN/Inf loss or gradient ({self.nonfinite_steps} in the whole run) and were "
            "skipped, so the weights are still those of the last good step and no checkpoint "
            "or export was written since. Lower model.lr, set trainer.gradient_clip_val, check "
            "the corpus with `vitp corpus validate`, or allow longer streaks with "
            "model.max_nonfinite_steps."
        )

    def state_dict(self) -> dict[str, Any]:
        """The counts (plain types: checkpoints load with ``weights_only=True``)."""
        return {k: v for k, v in asdict(self).items() if k != "max_in_a_row"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the counts of :meth:`state_dict`."""
        counts = ("nonfinite_steps", "nonfinite_in_a_row", "trained_steps", "empty_steps")
        for key in (*counts, "overflow_steps"):
            setattr(self, key, int(state.get(key, 0)))
        self.last_nonfinite_step = int(state.get("last_nonfinite_step", -1))


class NothingTrainedError(RuntimeError):
    """A run ended without a single optimizer step on a record."""
