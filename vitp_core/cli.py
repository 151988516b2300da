"""The ``vitp`` command line.

Sub-commands:
    pretrain   ViTP pretraining (LightningCLI: ``--config``, ``--print_config``, overrides).
    export     Write the ViT of a run or checkpoint as safetensors + JSON sidecar.
    corpus     Build, inspect and validate instruction corpora.
    tokenizer  Train a byte-level BPE tokenizer on a corpus's text.

Adapter packages contribute further sub-commands through the ``vitp.commands``
entry-point group: each entry point names a ``register(subparsers)`` function that
adds an ``argparse`` sub-parser and sets ``func`` (``Callable[[argparse.Namespace], int]``)
as its default. The core therefore never imports an adapter.

Only the sub-command being run is imported: ``vitp --help`` lists every command (the
adapters' by entry-point name, without loading them) and imports no ML library. A command
whose extra is not installed says in one line which one to install
(:mod:`vitp_core.extras`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points

from vitp_core.cli_help import VitpArgumentParser
from vitp_core.extras import MissingExtraError, extra_required

__all__ = ["CORE_COMMANDS", "build_parser", "main"]

#: Core sub-commands: one-line help and the ``module:function`` that registers the full
#: sub-parser (``None``: the command hands its whole argument list to its own parser).
CORE_COMMANDS: dict[str, tuple[str, str | None]] = {
    "pretrain": ("ViTP pretraining (LightningCLI; see `vitp pretrain --help`).", None),
    "export": ("Export the pretrained ViT of a run.", "vitp_core.export_cli:register"),
    "corpus": (
        "Build, inspect and validate instruction corpora.",
        "vitp_core.corpus.cli:register",
    ),
    "tokenizer": (
        "Train a byte-level BPE tokenizer on a corpus's text.",
        "vitp_core.vlm.corpus_tokenizer:register",
    ),
}


def _pretrain(argv: list[str]) -> int:
    from vitp_core.training.preflight import (
        PROG,
        PretrainConfigError,
        PretrainUsageError,
        debug_requested,
        quick_check,
    )

    if not debug_requested(argv):
        try:  # the command line alone, before the training libraries load (seconds)
            quick_check(argv)
        except PretrainConfigError as err:
            print(f"{PROG}: error: {err}", file=sys.stderr)
            return 2 if isinstance(err, PretrainUsageError) else 1
    from vitp_core.training.cli import main as pretrain_main

    return pretrain_main(argv)


#: Sub-commands that hand their whole argument list to another parser.
_PASSTHROUGH: dict[str, Callable[[list[str]], int]] = {"pretrain": _pretrain}


def _load(target: str) -> Callable[[argparse._SubParsersAction], None]:
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def _plugins() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group="vitp.commands")}


def _adapter_of(ep: EntryPoint) -> str | None:
    """``vitp_monai.cli:register`` -> ``"monai"`` (the extra of the adapter package)."""
    package = ep.value.split(":", 1)[0].split(".", 1)[0]
    return package[len("vitp_") :] if package.startswith("vitp_") else None


def build_parser(command: str | None = None) -> tuple[argparse.ArgumentParser, list[str]]:
    """Build the top-level parser.

    Args:
        command: The sub-command to register in full (importing its module); every other
            one gets a one-line entry. ``None``: one-line entries only (for ``--help``).

    Returns:
        The parser and a list of plugin sub-commands that could not be loaded.

    Raises:
        MissingExtraError: When ``command`` comes from an adapter whose extra is missing.
    """
    parser = VitpArgumentParser(
        prog="vitp", description="Visual insTruction Pretraining for TorchGeo and MONAI."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, target) in CORE_COMMANDS.items():
        if name == command and target is not None:
            _load(target)(subparsers)
        else:
            subparsers.add_parser(name, help=help_text, add_help=False)
    problems: list[str] = []
    for name, ep in _plugins().items():
        if name in CORE_COMMANDS:
            problems.append(f"{name}: an adapter's command of this name is ignored")
        elif name == command:
            with extra_required(f"vitp {name}", _adapter_of(ep)):
                ep.load()(subparsers)
        else:
            where = ep.value.split(":", 1)[0].split(".", 1)[0]
            subparsers.add_parser(
                name, help=f"From {where}: see `vitp {name} --help`.", add_help=False
            )
    return parser, problems


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vitp`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = args_list[0] if args_list and not args_list[0].startswith("-") else None
    try:
        if command in _PASSTHROUGH:
            return _PASSTHROUGH[command](args_list[1:])
        parser, problems = build_parser(command)
        args = parser.parse_args(args_list)
        if not hasattr(args, "func"):  # options came before the command: load it now
            parser, problems = build_parser(args.command)
            args = parser.parse_args(args_list)
        for problem in problems:
            print(f"vitp: {problem}", file=sys.stderr)
        with extra_required(f"vitp {args.command}", _extra_of_command(args.command)):
            return int(args.func(args) or 0)
    except MissingExtraError as err:
        print(err, file=sys.stderr)
        return 1


def _extra_of_command(command: str) -> str | None:
    ep = _plugins().get(command) if command not in CORE_COMMANDS else None
    return _adapter_of(ep) if ep is not None else None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
