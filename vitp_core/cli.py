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
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

__all__ = ["build_parser", "main"]

#: Sub-commands that hand their whole argument list to another parser.
_PASSTHROUGH: dict[str, Callable[[list[str]], int]] = {}


def _pretrain(argv: list[str]) -> int:
    from vitp_core.training.cli import run_pretrain_cli

    run_pretrain_cli(argv)
    return 0


_PASSTHROUGH["pretrain"] = _pretrain


def _register_core(subparsers: argparse._SubParsersAction) -> None:
    subparsers.add_parser(
        "pretrain",
        help="ViTP pretraining (LightningCLI; see `vitp pretrain --help`).",
        add_help=False,
    )
    from vitp_core.export_cli import register as register_export

    register_export(subparsers)
    from vitp_core.vlm.corpus_tokenizer import register as register_tokenizer

    register_tokenizer(subparsers)
    try:
        from vitp_core.corpus.cli import register as register_corpus
    except ImportError:  # pragma: no cover - corpus tools are part of the core package
        return
    register_corpus(subparsers)


def _register_plugins(subparsers: argparse._SubParsersAction) -> list[str]:
    problems = []
    for ep in entry_points(group="vitp.commands"):
        try:
            ep.load()(subparsers)
        except ImportError as err:  # the adapter's extra is not installed
            problems.append(f"{ep.name}: {err} (install the matching extra, e.g. vitp[all])")
    return problems


def build_parser() -> tuple[argparse.ArgumentParser, list[str]]:
    """Build the top-level parser with core and plugin sub-commands.

    Returns:
        The parser and a list of plugin sub-commands that could not be loaded.
    """
    parser = argparse.ArgumentParser(
        prog="vitp", description="Visual insTruction Pretraining for TorchGeo and MONAI."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _register_core(subparsers)
    problems = _register_plugins(subparsers)
    return parser, problems


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vitp`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in _PASSTHROUGH:
        return _PASSTHROUGH[args_list[0]](args_list[1:])
    parser, problems = build_parser()
    args = parser.parse_args(args_list)
    for problem in problems:
        print(f"vitp: sub-command unavailable: {problem}", file=sys.stderr)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
