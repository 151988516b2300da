"""Checks of a ``vitp pretrain`` start, before any model is built, and its error lines.

A missing corpus, a value out of range, a resume that cannot work: each is found from the
parsed settings alone (no model, no data loading) and reported as one line naming the
option or file and what to do. :func:`one_line_error` turns the command-line parser's
errors (unknown options, wrong types) into the same kind of line, speaking of
``vitp pretrain``.

:func:`quick_check` looks at the command line alone, before the training libraries are
imported (which takes seconds): a misspelt option, a value of the wrong kind or out of
range, a missing corpus or start file given there fails at once. The option names come
from the signatures of the classes, read from their source (:mod:`ast`) without importing
them. The full parser, which also reads ``--config`` files, remains the authority.

This module imports no training library at import time.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib.util
import inspect
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "PROG",
    "PretrainConfigError",
    "PretrainUsageError",
    "check_fresh_start",
    "check_model_settings",
    "check_paths",
    "check_resume",
    "check_trainer_settings",
    "known_options",
    "one_line_error",
    "quick_check",
    "resume_checkpoint",
]

PROG = "vitp pretrain"


class PretrainConfigError(ValueError):
    """A ``vitp pretrain`` setting that cannot work, named with what to do."""


class PretrainUsageError(PretrainConfigError):
    """An unknown option or a value of the wrong kind on the command line."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_model_settings(model: Mapping[str, Any]) -> None:
    """Refuse model settings out of range, naming the option.

    Raises:
        PretrainConfigError: ``model.<option> <value>: <what is accepted>``.
    """
    rules: list[tuple[str, Any, bool, str]] = []

    def rule(name: str, ok: Any, accepted: str) -> None:
        if name in model:
            value = model[name]
            rules.append((name, value, bool(ok(value)), accepted))

    rule(
        "vrl_ratio",
        lambda v: _number(v) and 0 <= v < 1,
        "is the share of visual tokens dropped, 0 up to below 1",
    )
    rule("vrl_apply_prob", lambda v: _number(v) and 0 <= v <= 1, "is a probability, 0 to 1")
    rule("max_seq_len", lambda v: _number(v) and v >= 1, "must be a positive number of tokens")
    rule(
        "lr",
        lambda v: _number(v) and math.isfinite(v) and v > 0,
        "must be a positive learning rate",
    )
    rule("vit_lr_scale", lambda v: _number(v) and math.isfinite(v) and v >= 0, "must be 0 or more")
    rule("weight_decay", lambda v: _number(v) and math.isfinite(v) and v >= 0, "must be 0 or more")
    rule(
        "warmup_ratio",
        lambda v: _number(v) and 0 <= v < 1,
        "is a share of the steps, 0 up to below 1",
    )
    rule("min_lr_ratio", lambda v: _number(v) and 0 <= v <= 1, "is a share of model.lr, 0 to 1")
    rule("max_tiles", lambda v: _number(v) and v >= 1, "must be 1 or more")
    rule("in_chans", lambda v: _number(v) and v >= 1, "must be 1 or more bands")
    rule(
        "img_size",
        lambda v: v is None or (_number(v) and v > 0),
        "must be a positive size in pixels (or null)",
    )
    rule("drop_path_rate", lambda v: _number(v) and 0 <= v < 1, "is a rate, 0 up to below 1")
    rule("max_nonfinite_steps", lambda v: _number(v) and v >= 0, "must be 0 (never stop) or more")
    for name, value, ok, accepted in rules:
        if not ok:
            raise PretrainConfigError(f"model.{name} {value!r}: {accepted}.")
    for name in ("mean", "std", "band_names"):
        values = model.get(name)
        if values is not None and len(values) != model.get("in_chans", 3):
            raise PretrainConfigError(
                f"model.{name} has {len(values)} values but model.in_chans is "
                f"{model.get('in_chans', 3)}: give one per band."
            )


def check_trainer_settings(trainer: Mapping[str, Any]) -> None:
    """Refuse a run that would take no optimizer step.

    Raises:
        PretrainConfigError: For ``trainer.max_steps`` 0 or below -1, or ``max_epochs`` 0.
    """
    max_steps = trainer.get("max_steps", -1)
    if max_steps is not None and (max_steps == 0 or max_steps < -1):
        raise PretrainConfigError(
            f"trainer.max_steps {max_steps}: the run would take no optimizer step; give a "
            "positive number of steps (or -1 with trainer.max_epochs)."
        )
    if trainer.get("max_epochs") == 0:
        raise PretrainConfigError(
            "trainer.max_epochs 0: the run would take no optimizer step; give 1 or more, or -1 "
            "with trainer.max_steps."
        )


def check_paths(model: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """Check that the corpus and the local starts exist, without reading them in full.

    Raises:
        PretrainConfigError: Naming the option, the missing path and the fix.
    """
    from vitp_core.corpus.reader import read_mixture

    corpus = data.get("corpus")
    if corpus is not None:
        try:
            read_mixture(corpus, data.get("allowed_image_roots") or ())
        except FileNotFoundError as err:
            raise PretrainConfigError(
                f"data.corpus {corpus}: {_strip_path(err, corpus)} Give a corpus .jsonl, a "
                "mixture .json (`vitp corpus build ...` writes one) or a shard folder (`vitp "
                "corpus optimize` writes one), or leave data.corpus out "
                "for the demo corpus."
            ) from err
        except ValueError as err:
            raise PretrainConfigError(f"data.corpus {corpus}: {err}") from err
    init_from = model.get("init_from")
    if init_from is not None and not Path(init_from).exists():
        raise PretrainConfigError(
            f"model.init_from {init_from}: not found; give a vitp run folder, a .ckpt file or "
            "an InternVL2.5 folder."
        )
    weights = model.get("vit_weights")
    if weights is not None and not str(weights).startswith("timm:") and not Path(weights).exists():
        raise PretrainConfigError(
            f"model.vit_weights {weights}: not found; give a `vitp export` .safetensors, a timm "
            "or InternViT state dict, or timm:<name>.<tag>."
        )


def _strip_path(err: Exception, path: Any) -> str:
    text = str(err)
    return text.replace(f"corpus {path} not found.", "not found.").strip()


def resume_checkpoint(ckpt_path: str | None, run_dir: str) -> Path | None:
    """The checkpoint file a ``--ckpt_path`` resumes from (``None``: a fresh start).

    ``last`` is the run folder's ``checkpoints/last.ckpt`` (``None`` when there is none
    yet: Lightning then starts afresh, as it says).

    Raises:
        PretrainConfigError: When an explicit checkpoint path does not exist.
    """
    if ckpt_path is None:
        return None
    if ckpt_path == "last":
        last = Path(run_dir) / "checkpoints" / "last.ckpt"
        return last if last.is_file() else None
    if ckpt_path in ("best", "hpc", "registry") or ckpt_path.startswith("registry:"):
        return None
    path = Path(ckpt_path)
    if not path.is_file():
        raise PretrainConfigError(
            f"--ckpt_path {ckpt_path}: not found; give a .ckpt file, or 'last' for "
            f"{Path(run_dir) / 'checkpoints' / 'last.ckpt'}."
        )
    return path


#: Files whose presence means a run folder already holds a run a fresh start would overwrite.
_RUN_FILES = ("checkpoints/*.ckpt", "backbone.safetensors", "run_summary.json")


def check_fresh_start(run_dir: str | Path, asked_for_last: bool = False) -> None:
    """Refuse a fresh start in a run folder that already holds a run.

    A fresh start would overwrite the earlier run's ``last.ckpt``, export and summary;
    resuming it or choosing another folder loses nothing. ``--ckpt_path last`` in a folder
    without ``checkpoints/last.ckpt`` is a fresh start too (Lightning's rule, which lets a
    job that always asks for ``last`` start the first time), so it is refused the same way
    when the folder holds a run.

    Args:
        run_dir: The run folder.
        asked_for_last: ``--ckpt_path last`` was given (and found no ``last.ckpt``).

    Raises:
        PretrainConfigError: When ``run_dir`` holds checkpoints, an export or a summary.
    """
    folder = Path(run_dir)
    found = sorted(
        str(p.relative_to(folder)) for pattern in _RUN_FILES for p in folder.glob(pattern)
    )
    if not found:
        return
    shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
    if asked_for_last:
        raise PretrainConfigError(
            f"--ckpt_path last: {run_dir} has no checkpoints/last.ckpt to resume but holds "
            f"a run ({shown}) that a fresh start would overwrite; resume from one of its "
            "checkpoints with --ckpt_path FILE, or give a new --run_dir (nothing was changed)."
        )
    raise PretrainConfigError(
        f"--run_dir {run_dir}: already holds a run ({shown}); resume it with "
        "--ckpt_path last, or give a new --run_dir (nothing was changed)."
    )


def check_resume(
    checkpoint: Path, model: Mapping[str, Any], data: Mapping[str, Any], verify_checksum: bool
) -> None:
    """Check a resume before the model is built: checksum, readability, same settings.

    Raises:
        CheckpointChecksumError: When the checkpoint does not match its record.
        PretrainConfigError: When the file is not a readable checkpoint.
        ResumeSettingsError: When a run-defining setting changed.
    """
    import torch

    from vitp_core.training.checkpoint_integrity import verify_checkpoint_checksum
    from vitp_core.training.module import CHECKPOINT_KEY
    from vitp_core.training.run_settings import check_resume_settings

    if verify_checksum:
        verify_checkpoint_checksum(checkpoint)
    try:
        payload = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # truncated files, refused pickles
        raise PretrainConfigError(
            f"--ckpt_path {checkpoint}: not a readable checkpoint ({err})."
        ) from err
    state = payload.get(CHECKPOINT_KEY) or {}
    check_resume_settings(
        checkpoint,
        state.get("run_settings") or {},
        model,
        payload.get("datamodule_hyper_parameters"),
        data,
    )


def known_options(classes: Mapping[str, Any], extra: Iterable[str] = ()) -> list[str]:
    """Dotted option names of ``{"model": ModelClass, ...}`` (from their signatures)."""
    names = list(extra)
    for prefix, cls in classes.items():
        for name in inspect.signature(cls).parameters:
            if name not in ("self", "args", "kwargs"):
                names.append(f"{prefix}.{name}")
    return names


_UNRECOGNIZED = re.compile(r"unrecognized arguments: (\S+)")
_NOT_ACCEPTED = re.compile(r"does not accept (?:option|nested key) '([^']+)'")
_PARSER_KEY = re.compile(r'Parser key "([^"]+)":\s*(.*)', re.S)
_EXPECTED = re.compile(r"Expected a <class '(\w+)'>\. Got value: (.*)")


def _did_you_mean(name: str, options: list[str], dashes: str = "") -> str:
    match = difflib.get_close_matches(name, options, n=1, cutoff=0.75)
    return f" Did you mean {dashes}{match[0]}?" if match else ""


def one_line_error(error: BaseException, options: list[str]) -> str:
    """One line for a command-line error: the option, what is wrong, what to do.

    Args:
        error: The parser's ``ArgumentError`` (or any error of a start).
        options: Known dotted option names, for "did you mean" suggestions.
    """
    text = str(error)
    help_hint = f" See `{PROG} --help`."
    if isinstance(error, argparse.ArgumentError) or "argument" in type(error).__name__.lower():
        if found := _UNRECOGNIZED.search(text):
            option = found.group(1)
            name = option.lstrip("-").split("=", 1)[0]
            dashes = option[: len(option) - len(option.lstrip("-"))]
            return f"unknown option {option}.{_did_you_mean(name, options, dashes)}{help_hint}"
        if found := _NOT_ACCEPTED.search(text):
            name = found.group(1)
            return (
                f"unknown setting {name} (in --config or an override)."
                f"{_did_you_mean(name, options)}{help_hint}"
            )
        if found := _PARSER_KEY.search(text):
            key, detail = found.group(1), " ".join(found.group(2).split())
            if expected := _EXPECTED.search(detail):
                detail = f"expected a {expected.group(1)}, got {expected.group(2)}"
            return f"--{key}: {detail}.{help_hint}"
    text = text.replace("Subcommand 'fit'", PROG).replace("vitp fit", PROG)
    return " ".join(text.split())


def debug_requested(argv: list[str]) -> bool:
    """Whether ``--debug`` is in ``argv`` or ``VITP_DEBUG`` is set (show tracebacks)."""
    return "--debug" in argv or os.environ.get("VITP_DEBUG", "") not in ("", "0")


#: Where the options of each group come from: (package, file in it, class).
_OPTION_SOURCES: dict[str, tuple[str, str, str]] = {
    "model": ("vitp_core", "training/module.py", "ViTPPretrainModule"),
    "data": ("vitp_core", "data/datamodule.py", "InstructionDataModule"),
    "artifacts": ("vitp_core", "training/artifacts.py", "RunArtifacts"),
    "reliance": ("vitp_core", "training/reliance.py", "ImageRelianceMonitor"),
    "trainer": ("lightning", "pytorch/trainer/trainer.py", "Trainer"),
    "checkpoint": ("lightning", "pytorch/callbacks/model_checkpoint.py", "ModelCheckpoint"),
}
#: Top-level options of ``vitp pretrain``.
_TOP_OPTIONS = frozenset(
    {"run_dir", "ckpt_path", "weights_only", "verify_checksum", "seed_everything"}
    | {"config", "print_config", "help", "debug", "c", "h"}
)
#: Command-line values that must be numbers: option -> (whole number, null allowed).
_NUMERIC = {
    "data.batch_size": (True, False),
    "data.num_workers": (True, False),
    "data.val_fraction": (False, False),
    "data.reliance_records": (True, False),
    "data.max_image_pixels": (True, True),
    "data.probe_records": (True, False),
    "trainer.max_steps": (True, False),
    "trainer.max_epochs": (True, True),
    **{
        f"model.{k}": (k in ("max_seq_len", "max_tiles", "in_chans", "max_nonfinite_steps"), False)
        for k in (
            "vrl_ratio",
            "vrl_apply_prob",
            "max_seq_len",
            "lr",
            "vit_lr_scale",
            "weight_decay",
            "warmup_ratio",
            "min_lr_ratio",
            "max_tiles",
            "in_chans",
            "drop_path_rate",
            "max_nonfinite_steps",
        )
    },
}


def _init_parameters(package: str, relative: str, class_name: str) -> set[str] | None:
    """Parameter names of ``class_name.__init__`` read from source, or ``None`` if unknown."""
    spec = importlib.util.find_spec(package)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    arguments = item.args
                    every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
                    return {a.arg for a in every if a.arg != "self"}
    return None


def _command_line_values(argv: list[str]) -> list[tuple[str, str | None]]:
    """``(option, value)`` of every ``--option value`` / ``--option=value`` in ``argv``."""
    found = []
    for index, token in enumerate(argv):
        if not token.startswith("-") or token in ("-", "--") or _is_number(token):
            continue
        name, equals, value = token.lstrip("-").partition("=")
        if not equals:
            following = argv[index + 1] if index + 1 < len(argv) else None
            is_value = following is not None and (
                not following.startswith("-") or _is_number(following)
            )
            value = following if is_value else None
        found.append((name.rstrip("+"), value if equals or value is not None else None))
    return found


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _unknown_option(name: str) -> str | None:
    """The error line for an option that ``vitp pretrain`` does not have, else ``None``."""
    if name in _TOP_OPTIONS:
        return None
    group, _, rest = name.partition(".")
    known = {g: _init_parameters(*source) for g, source in _OPTION_SOURCES.items()}
    if group in known:
        params = known[group]
        key = rest.split(".", 1)[0]
        if params is None or not rest or key in params or key == "help":
            return None
    options = sorted(_TOP_OPTIONS) + [
        f"{g}.{p}" for g, params in known.items() for p in sorted(params or ())
    ]
    dashes = "-" if len(name) == 1 else "--"
    return (
        f"unknown option {dashes}{name}.{_did_you_mean(name, options, dashes)} See `{PROG} --help`."
    )


def _value(text: str | None) -> Any:
    if text is None:
        return None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def quick_check(argv: list[str]) -> None:
    """Check the command line alone, before the training libraries are imported.

    Raises:
        PretrainUsageError: For an unknown option or a value of the wrong kind.
        PretrainConfigError: For a value out of range or a missing corpus / start file.
    """
    given: dict[str, dict[str, Any]] = {"model": {}, "data": {}, "trainer": {}, "": {}}
    for name, text in _command_line_values(argv):
        if (problem := _unknown_option(name)) is not None:
            raise PretrainUsageError(problem)
        if name in ("config", "c") and text is not None and not Path(text).is_file():
            raise PretrainConfigError(f"--config {text}: not found.")
        group, _, key = name.rpartition(".") if name.count(".") == 1 else ("", "", name)
        value = _value(text)
        if name in _NUMERIC and text is not None:
            whole, nullable = _NUMERIC[name]
            ok = (value is None and nullable) or (
                _number(value) and (not whole or float(value) == int(value))
            )
            if not ok:
                kind = "a whole number" if whole else "a number"
                raise PretrainUsageError(f"--{name}: expected {kind}, got {text}.")
        if group in given and text is not None:
            given[group][key] = value
    check_model_settings(given["model"])
    check_trainer_settings(given["trainer"])
    from vitp_core.data.settings import DATA_SETTINGS, check_data_settings

    try:
        check_data_settings(**{k: v for k, v in given["data"].items() if k in DATA_SETTINGS})
    except ValueError as err:
        raise PretrainConfigError(str(err)) from err
    check_paths(given["model"], {k: v for k, v in given["data"].items() if k == "corpus"})
    ckpt = given[""].get("ckpt_path")
    if isinstance(ckpt, str):
        resume_checkpoint(ckpt, str(given[""].get("run_dir") or "runs/vitp-default"))
