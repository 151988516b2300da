"""Tiny in-process training runs shared by the training tests (``from tiny_runs import ...``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from tiny_data import TINY_ARCHITECTURE, TINY_PRETRAIN_ARGS

from vitp_core.data.datamodule import InstructionDataModule
from vitp_core.training.module import ViTPPretrainModule

TINY_MODEL: dict[str, Any] = {**TINY_ARCHITECTURE, "vrl_ratio": 0.0, "lr": 1e-3}


def tiny_module(**kwargs: Any) -> ViTPPretrainModule:
    """A tiny seeded ViTP module (VRL off, so runs are deterministic)."""
    L.seed_everything(0, verbose=False)
    return ViTPPretrainModule(**{**TINY_MODEL, **kwargs})


def fit_tiny(
    module: ViTPPretrainModule,
    corpus: Path,
    steps: int,
    callbacks: Sequence[L.Callback] = (),
    ckpt_path: str | None = None,
    data_kwargs: dict[str, Any] | None = None,
    **trainer_kwargs: Any,
) -> tuple[L.Trainer, InstructionDataModule]:
    """Fit ``module`` on ``corpus`` for ``steps`` optimizer steps (batches of 4)."""
    data = InstructionDataModule(
        corpus=str(corpus), processor=module.processor, batch_size=4, **(data_kwargs or {})
    )
    options: dict[str, Any] = {
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        **trainer_kwargs,
    }
    trainer = L.Trainer(max_steps=steps, callbacks=list(callbacks), **options)
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)
    return trainer, data


def pretrain_subprocess(
    run_dir: Path, corpus: Path, *extra: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    """``vitp pretrain`` of the tiny architecture in a subprocess, as a user runs it."""
    cmd = [
        *(sys.executable, "-m", "vitp_core.cli", "pretrain"),
        *("--run_dir", str(run_dir), "--data.corpus", str(corpus)),
        *TINY_PRETRAIN_ARGS,
        *extra,
    ]
    return subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600
    )
