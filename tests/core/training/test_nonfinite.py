"""Item 1 (training side): a NaN/Inf loss or gradient never reaches weights or checkpoints."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from tiny_runs import fit_tiny, tiny_module

from vitp_core.export import NonFiniteWeightsError
from vitp_core.training.artifacts import RunArtifacts


def _poison(module: L.LightningModule, steps: set[int] | None = None, start: int = 10**9) -> None:
    """Make the loss NaN at the optimizer steps in ``steps`` and from ``start`` on."""
    forward = module.model.forward

    def poisoned(batch: Any) -> Any:
        out = forward(batch)
        if module.global_step in (steps or set()) or module.global_step >= start:
            out.loss = out.loss * float("nan")
        return out

    module.model.forward = poisoned


class _Weights(L.Callback):
    """The ViT's weights at the start of every optimizer step."""

    def __init__(self) -> None:
        self.at: dict[int, dict[str, torch.Tensor]] = {}

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        state = pl_module.model.vit.state_dict()
        self.at[trainer.global_step] = {k: v.detach().clone() for k, v in state.items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_nonfinite_steps_are_skipped_counted_and_reported(
    tmp_path: Path, tiny_corpus: Path
) -> None:
    module = tiny_module()
    _poison(module, steps={1, 2})
    weights = _Weights()
    artifacts = RunArtifacts(run_dir=str(tmp_path / "run"))
    fit_tiny(module, tiny_corpus, 5, [weights, artifacts])
    # steps 1 and 2 were skipped: the weights did not move, the others did
    assert _same(weights.at[1], weights.at[2]) and _same(weights.at[2], weights.at[3])
    assert not _same(weights.at[0], weights.at[1]) and not _same(weights.at[3], weights.at[4])
    assert all(torch.isfinite(v).all() for v in module.model.state_dict().values())
    assert module.health.nonfinite_steps == 2 and module.health.trained_steps == 3
    summary = json.loads((tmp_path / "run" / "run_summary.json").read_text())
    assert summary["nonfinite_steps"] == 2 and summary["trained_steps"] == 3
    assert all(math.isfinite(loss) for loss in artifacts.losses)
    assert (tmp_path / "run" / "backbone.safetensors").is_file()


def test_a_streak_of_nonfinite_steps_stops_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, tiny_corpus: Path
) -> None:
    from vitp_core.training.checkpoint_integrity import ChecksummedCheckpointIO, checksum_path
    from vitp_core.training.safety import NonFiniteTrainingError

    module = tiny_module(max_nonfinite_steps=3)
    _poison(module, start=2)
    checkpoints = ModelCheckpoint(
        dirpath=tmp_path / "checkpoints", save_last=True, save_top_k=0, every_n_train_steps=1
    )
    artifacts = RunArtifacts(run_dir=str(tmp_path))
    with pytest.raises(
        NonFiniteTrainingError, match=r"stopped at step 4: 3 optimizer steps in a row"
    ):
        fit_tiny(
            module,
            tiny_corpus,
            8,
            [checkpoints, artifacts],
            enable_checkpointing=True,
            plugins=[ChecksummedCheckpointIO()],
        )
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values())
    vit = {k.removeprefix("model.vit."): v for k, v in saved["state_dict"].items() if "vit." in k}
    assert _same(vit, module.model.vit.state_dict())  # the weights of the last good step
    assert checksum_path(tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert not (tmp_path / "backbone.safetensors").exists()  # a failed run exports nothing


def test_nonfinite_weights_are_never_written_to_a_checkpoint(tmp_path: Path) -> None:
    from vitp_core.training.checkpoint_integrity import ChecksummedCheckpointIO

    io = ChecksummedCheckpointIO()
    target = tmp_path / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "global_step": 1}, target)
    good = target.read_bytes()
    with pytest.raises(NonFiniteWeightsError, match=r"model\.w \(1 NaN/Inf of 3\)"):
        io.save_checkpoint(
            {"state_dict": {"model.w": torch.tensor([1.0, float("inf"), 2.0])}}, target
        )
    assert target.read_bytes() == good  # the previous good checkpoint survives
    assert io.load_checkpoint(target)["global_step"] == 1


def test_fp16_scaler_overflows_do_not_count_towards_the_streak() -> None:
    from vitp_core.training.safety import NonFiniteTrainingError, TrainingHealth

    health = TrainingHealth(max_in_a_row=2)
    for step in range(5):  # the gradient scaler's business: it skips and lowers its scale
        assert not health.record(step, finite=False, has_data=True, scaler_overflow=True)
    assert health.overflow_steps == 5 and health.nonfinite_steps == 0
    assert health.record(5, finite=True, has_data=True) and health.trained_steps == 1
    assert not health.record(6, finite=True, has_data=False) and health.empty_steps == 1
    assert not health.record(7, finite=False, has_data=True)
    with pytest.raises(NonFiniteTrainingError, match="stopped at step 8: 2 optimizer steps"):
        health.record(8, finite=False, has_data=True)
    restored = TrainingHealth()
    restored.load_state_dict(health.state_dict())
    assert restored.state_dict() == health.state_dict()
