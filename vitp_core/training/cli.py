"""``vitp pretrain``: LightningCLI over :class:`ViTPPretrainModule` and the data module.

``vitp pretrain`` with no argument trains the tiny default on the embedded demo corpus;
``--config x.yaml`` and dotted overrides (``--model.vrl_ratio 0.5``) work as in any
LightningCLI, ``--ckpt_path last`` resumes the run in ``--run_dir``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import CSVLogger

from vitp_core.data.datamodule import InstructionDataModule
from vitp_core.training.artifacts import RunArtifacts
from vitp_core.training.module import ViTPPretrainModule
from vitp_core.training.reliance import ImageRelianceMonitor

__all__ = ["DEFAULT_CONFIG", "ViTPCLI", "run_pretrain_cli"]

DEFAULT_CONFIG = Path(str(resources.files("vitp_core") / "configs" / "pretrain_default.yaml"))


class ViTPCLI(LightningCLI):
    """LightningCLI with one ``--run_dir`` that places logs, checkpoints and artifacts."""

    def add_arguments_to_parser(self, parser: Any) -> None:
        """Add ``run_dir``, checkpointing and artifacts, and link the processor to the data."""
        parser.add_argument("--run_dir", type=str, default="runs/vitp-default", help="Run folder.")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.save_last": True,
                "checkpoint.every_n_train_steps": 50,
                "checkpoint.save_top_k": 0,
            }
        )
        parser.add_lightning_class_args(RunArtifacts, "artifacts")
        parser.add_lightning_class_args(ImageRelianceMonitor, "reliance")
        parser.link_arguments(
            "run_dir", "checkpoint.dirpath", compute_fn=lambda d: f"{d}/checkpoints"
        )
        parser.link_arguments("run_dir", "artifacts.run_dir")
        parser.link_arguments("run_dir", "trainer.default_root_dir")
        parser.link_arguments("model.processor", "data.processor", apply_on="instantiate")

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        """Log to ``run_dir/metrics.csv`` unless the config names another logger."""
        config = self.config_init[self.subcommand] if self.subcommand else self.config_init
        trainer_config = config.get("trainer", {})
        if trainer_config.get("logger") in (None, True):
            run_dir = config.get("run_dir", "runs/vitp-default")
            kwargs["logger"] = CSVLogger(save_dir=run_dir, name="", version="")
        return super().instantiate_trainer(**kwargs)


def run_pretrain_cli(argv: list[str]) -> ViTPCLI:
    """Run ``vitp pretrain`` with ``argv`` (the arguments after ``pretrain``)."""
    return ViTPCLI(
        ViTPPretrainModule,
        InstructionDataModule,
        args=["fit", *argv],
        parser_kwargs={"fit": {"default_config_files": [str(DEFAULT_CONFIG)]}},
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
    )
