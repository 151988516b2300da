"""``vitp pretrain``: LightningCLI over :class:`ViTPPretrainModule` and the data module.

``vitp pretrain`` with no argument trains the tiny default on the embedded demo corpus;
``--config x.yaml`` and dotted overrides (``--model.vrl_ratio 0.5``) work as in any
LightningCLI, ``--ckpt_path last`` resumes the run in ``--run_dir``.

Before any model is built, the start is checked (:mod:`vitp_core.training.preflight`):
settings in range, the corpus and local starts present, a resume's checkpoint intact
and its run-defining settings unchanged, and the run folder free (a lock names the
process that holds it). A bad start leaves the run folder as it was and prints one line
(``--debug`` or ``VITP_DEBUG=1``: the traceback). During the run, ``metrics.csv`` is
appended to, every checkpoint is checked for NaN/Inf and gets a SHA-256 record, and the
progress bar counts optimizer steps.
"""

from __future__ import annotations

import sys
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

from lightning.fabric.utilities.rank_zero import _get_rank
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from lightning.pytorch.cli import LightningCLI

from vitp_core.data.datamodule import InstructionDataModule
from vitp_core.data.settings import DATA_SETTINGS, check_data_settings
from vitp_core.training.artifacts import RunArtifacts
from vitp_core.training.checkpoint_integrity import ChecksummedCheckpointIO
from vitp_core.training.metrics_log import AppendingCSVLogger
from vitp_core.training.module import ViTPPretrainModule
from vitp_core.training.preflight import (
    PROG,
    check_fresh_start,
    check_model_settings,
    check_paths,
    check_resume,
    check_trainer_settings,
    debug_requested,
    known_options,
    one_line_error,
    resume_checkpoint,
)
from vitp_core.training.reliance import ImageRelianceMonitor
from vitp_core.training.run_lock import RunLock

__all__ = ["DEFAULT_CONFIG", "ViTPCLI", "main", "run_pretrain_cli"]

DEFAULT_CONFIG = Path(str(resources.files("vitp_core") / "configs" / "pretrain_default.yaml"))


def _is_launching_process() -> bool:
    """Whether this is the process that owns the run (not a DDP worker it launched)."""
    import os

    rank = _get_rank()
    return (rank is None or rank == 0) and os.environ.get("NODE_RANK", "0") == "0"


#: Help of the resume options (Lightning's speaks of ``trainer.fit``).
_RESUME_HELP = {
    "ckpt_path": "Resume this run: 'last' (--run_dir's checkpoints/last.ckpt) or a .ckpt file. "
    "The checkpoint must match its SHA-256 record (see --verify_checksum) and the run-defining "
    "settings (model, VRL, corpus...) must be the run's own. (default: null, a fresh start)",
    "weights_only": "Read the resumed checkpoint with torch.load(weights_only=...): null or "
    "true load tensors and plain values only, never code. (default: null)",
}


class ViTPCLI(LightningCLI):
    """LightningCLI with one ``--run_dir`` that places logs, checkpoints and artifacts.

    Args:
        *args: As :class:`~lightning.pytorch.cli.LightningCLI`.
        locks: A list that receives the run folder's lock once taken, so that the caller
            releases it however the run ends.
        **kwargs: As :class:`~lightning.pytorch.cli.LightningCLI`.
    """

    def __init__(self, *args: Any, locks: list[RunLock] | None = None, **kwargs: Any) -> None:
        self.locks = locks if locks is not None else []
        super().__init__(*args, **kwargs)

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        """Only ``fit``: ``vitp pretrain`` trains."""
        return {"fit": LightningCLI.subcommands()["fit"]}

    def _add_subcommands(self, parser: Any, **kwargs: Any) -> None:
        super()._add_subcommands(parser, **kwargs)
        for sub in self._subcommand_parsers.values():
            sub.prog = PROG  # usage, help and errors speak of `vitp pretrain`, not `fit`
            for action in sub._actions:
                action.help = _RESUME_HELP.get(action.dest, action.help)

    def add_arguments_to_parser(self, parser: Any) -> None:
        """Add ``run_dir``, checkpointing and artifacts, and link the processor to the data."""
        parser.add_argument(
            "--run_dir",
            type=str,
            default="runs/vitp-default",
            help="Run folder: metrics.csv, checkpoints/, the export and reports go here.",
        )
        parser.add_argument(
            "--verify_checksum",
            type=bool,
            default=True,
            help="Check the SHA-256 record of the checkpoint a resume (--ckpt_path) reads; "
            "false resumes from a checkpoint without one, e.g. from another tool.",
        )
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

    def _set_seed(self) -> None:
        """Seed as LightningCLI does, without its log line (a failed start prints one line)."""
        from lightning.fabric.utilities.seed import seed_everything

        key = self.subcommand
        config = self.config[key] if key else self.config
        seed = config.get("seed_everything")
        if seed is False:
            return
        seed = seed_everything(None if seed is True else seed, workers=True, verbose=False)
        config["seed_everything"] = seed

    def before_instantiate_classes(self) -> None:
        """Check the start before any model is built; take the run folder's lock."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        model, data = config["model"].as_dict(), config["data"].as_dict()
        check_model_settings(model)
        check_trainer_settings(config["trainer"].as_dict())
        check_data_settings(**{k: data[k] for k in DATA_SETTINGS if k in data})
        check_paths(model, data)
        checkpoint = resume_checkpoint(config.get("ckpt_path"), config["run_dir"])
        if checkpoint is not None:
            check_resume(checkpoint, model, data, bool(config.get("verify_checksum", True)))
        elif config.get("ckpt_path") in (None, "last"):
            check_fresh_start(config["run_dir"], asked_for_last=config.get("ckpt_path") == "last")
        if _is_launching_process():
            self.locks.append(RunLock(config["run_dir"]).acquire())

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """Appending ``metrics.csv``, checksummed checkpoints, a step-counting progress bar."""
        config = self.config_init[self.subcommand] if self.subcommand else self.config_init
        trainer_config = config.get("trainer", {})
        run_dir = config.get("run_dir", "runs/vitp-default")
        if trainer_config.get("logger") in (None, True):
            kwargs["logger"] = AppendingCSVLogger(save_dir=run_dir, name="", version="")
        plugins = trainer_config.get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, list | tuple) else [plugins]
        io = ChecksummedCheckpointIO(verify_checksum=bool(config.get("verify_checksum", True)))
        kwargs["plugins"] = [*plugins, io]
        callbacks = list(trainer_config.get("callbacks") or [])
        if trainer_config.get("enable_progress_bar", True) is not False and not any(
            isinstance(c, ProgressBar) for c in callbacks
        ):
            from vitp_core.training.progress import make_progress_bar

            kwargs["callbacks"] = [*callbacks, make_progress_bar()]
        return super().instantiate_trainer(**kwargs)


def run_pretrain_cli(argv: list[str]) -> ViTPCLI:
    """Run ``vitp pretrain`` with ``argv`` (the arguments after ``pretrain``).

    Raises:
        argparse.ArgumentError: For unknown options and values of the wrong type.
        ValueError: For settings that cannot work (named), and the run's own errors.
    """
    locks: list[RunLock] = []
    try:
        with warnings.catch_warnings():
            # the console passes its arguments as `args`; Lightning warns when sys.argv has some too
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
            return ViTPCLI(
                ViTPPretrainModule,
                InstructionDataModule,
                args=["fit", *argv],
                parser_kwargs={
                    "prog": PROG,
                    "exit_on_error": False,
                    "fit": {"default_config_files": [str(DEFAULT_CONFIG)]},
                },
                save_config_kwargs={"overwrite": True},
                auto_configure_optimizers=False,
                locks=locks,
            )
    finally:
        for lock in locks:
            lock.release()


def _options() -> list[str]:
    from vitp_core.training.reliance import ImageRelianceMonitor as Reliance

    classes = {
        "model": ViTPPretrainModule,
        "data": InstructionDataModule,
        "trainer": Trainer,
        "checkpoint": ModelCheckpoint,
        "artifacts": RunArtifacts,
        "reliance": Reliance,
    }
    top = ["run_dir", "ckpt_path", "verify_checksum", "seed_everything", "config", "print_config"]
    return known_options(classes, top)


def main(argv: list[str]) -> int:
    """``vitp pretrain`` for the console: one line per error, exit status 2 (usage) or 1.

    ``--debug`` (or ``VITP_DEBUG=1``) re-raises with the traceback instead.
    """
    import argparse

    from vitp_core.extras import MissingExtraError
    from vitp_core.training.checkpoint_integrity import CheckpointChecksumError
    from vitp_core.training.run_lock import RunLockedError
    from vitp_core.training.safety import NonFiniteTrainingError, NothingTrainedError

    debug = debug_requested(argv)
    argv = [arg for arg in argv if arg != "--debug"]
    user_errors = (
        ValueError,
        FileNotFoundError,
        NotADirectoryError,
        PermissionError,
        RunLockedError,
        CheckpointChecksumError,
        NonFiniteTrainingError,
        NothingTrainedError,
        MissingExtraError,
    )
    try:
        run_pretrain_cli(argv)
    except argparse.ArgumentError as err:
        if debug:
            raise
        print(f"{PROG}: error: {one_line_error(err, _options())}", file=sys.stderr)
        return 2
    except user_errors as err:
        if debug:
            raise
        print(f"{PROG}: error: {one_line_error(err, [])}", file=sys.stderr)
        return 1
    return 0
