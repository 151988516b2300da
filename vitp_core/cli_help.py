"""Help output of the ``vitp`` commands: every option with a help text and its default.

:class:`VitpArgumentParser` is the parser class of ``vitp`` and, through
``add_subparsers``, of every sub-command registered under it (core and adapters). Its
formatter appends ``(default: ...)`` to an option's help unless the text already speaks
of its default; flags read ``(default: off)``. Options whose default is ``None`` must say
in words what happens when they are left out (``"(default: the JSON's folder)"``), which
:func:`undocumented_options` checks.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

__all__ = ["DefaultsHelpFormatter", "VitpArgumentParser", "iter_parsers", "undocumented_options"]


def _has_default_text(text: str) -> bool:
    return "default" in text.lower()


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Append each option's default to its help."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if not text or text == argparse.SUPPRESS or _has_default_text(text):
            return text
        if not action.option_strings and action.nargs not in ("?", "*"):
            return text  # required positional: no default to show
        if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
            return f"{text} (default: {'on' if action.default else 'off'})"
        if action.default is None or action.default == argparse.SUPPRESS:
            return text
        default = action.default
        if isinstance(default, list | tuple):
            default = " ".join(map(str, default))
        return f"{text} (default: {str(default).replace('%', '%%')})"


class VitpArgumentParser(argparse.ArgumentParser):
    """``ArgumentParser`` with :class:`DefaultsHelpFormatter` unless told otherwise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)


def iter_parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Yield ``(prog, parser)`` for ``parser`` and every sub-parser below it."""
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for sub in action.choices.values():
                if id(sub) not in seen:  # aliases share a parser
                    seen.add(id(sub))
                    yield from iter_parsers(sub)


def undocumented_options(parser: argparse.ArgumentParser) -> list[str]:
    """Options of ``parser`` (not its sub-parsers) without a help text or a stated default.

    Returns:
        ``"PROG --option: what is missing"`` per problem; empty when all is documented.
    """
    formatter = parser._get_formatter()
    problems = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        if not action.help or action.help == argparse.SUPPRESS:
            problems.append(f"{parser.prog} {name}: no help text")
            continue
        if not action.option_strings or action.required:
            continue  # positional or required: it has no default
        shown = formatter._get_help_string(action) or ""
        if not _has_default_text(shown):
            problems.append(f"{parser.prog} {name}: the help does not say its default")
    return problems
