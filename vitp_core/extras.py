"""Per-domain installs: say in one line which ``vitp[...]`` extra a command is missing.

``pip install vitp`` gives the core; ``vitp[geo]``, ``vitp[torchgeo]``, ``vitp[monai]`` and
``vitp[bench]`` add the libraries of each domain. A command that needs a library of a
missing extra runs its imports inside :func:`extra_required`, which turns the
``ModuleNotFoundError`` into a :class:`MissingExtraError` whose message is the one line a
user needs::

    vitp monai-bundle needs the optional dependency 'jsonschema': pip install "vitp[monai]"

Console scripts wrap their whole run in :func:`exit_on_missing_extra`, which prints that
line and exits with status 1 (``VITP_DEBUG=1`` shows the traceback instead). A package
whose own ``__init__`` needs the extra (so that a console script fails before its
``main`` runs) guards its imports with ``extra_required(..., at_import=True)``: an
uncaught :class:`MissingExtraError` is then printed as its one line too. A module that is
no optional dependency of vitp is a bug, not a missing extra: it is re-raised unchanged.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "EXTRA_OF_MODULE",
    "MissingExtraError",
    "exit_on_missing_extra",
    "extra_for_module",
    "extra_required",
    "install_hint",
]

#: Top-level import name -> the extra that installs it (pyproject ``optional-dependencies``,
#: plus the libraries those pull in that vitp imports itself or that fail first).
EXTRA_OF_MODULE: dict[str, str] = {
    **dict.fromkeys(("rasterio", "geopandas", "shapely", "pyproj", "pyogrio", "fiona"), "geo"),
    **dict.fromkeys(
        (
            "torchgeo",
            "einops",
            "kornia",
            "segmentation_models_pytorch",
            "torchmetrics",
            "pycocotools",
            "skimage",
        ),
        "torchgeo",
    ),
    **dict.fromkeys(("monai", "nibabel", "jsonschema", "ignite", "fire"), "monai"),
    **dict.fromkeys(("lightly", "sklearn"), "bench"),
}


class MissingExtraError(ImportError):
    """A command needs a library of an extra that is not installed.

    Attributes:
        command: The command that needs it, e.g. ``"vitp monai-bundle"``.
        module: The missing import name.
        extra: The extra that installs it.
    """

    def __init__(self, command: str, module: str, extra: str) -> None:
        self.command, self.module, self.extra = command, module, extra
        super().__init__(
            f"{command} needs the optional dependency {module!r}: {install_hint(extra)}",
            name=module,
        )


def install_hint(extra: str) -> str:
    """The install command of an extra: ``pip install "vitp[monai]"``."""
    return f'pip install "vitp[{extra}]"'


def extra_for_module(module: str) -> str | None:
    """The extra that installs ``module`` (``"monai.bundle"`` -> ``"monai"``), or ``None``."""
    return EXTRA_OF_MODULE.get(module.split(".", 1)[0])


def _print_missing_extra_hook(previous: Callable[..., Any]) -> Callable[..., Any]:
    def hook(kind: type[BaseException], error: BaseException, trace: Any) -> None:
        if isinstance(error, MissingExtraError) and not os.environ.get("VITP_DEBUG"):
            print(error, file=sys.stderr)
        else:
            previous(kind, error, trace)

    hook.vitp_missing_extra = True  # type: ignore[attr-defined]
    return hook


def _install_excepthook() -> None:
    """Print an uncaught :class:`MissingExtraError` as its one line (others unchanged)."""
    if not getattr(sys.excepthook, "vitp_missing_extra", False):
        sys.excepthook = _print_missing_extra_hook(sys.excepthook)


@contextmanager
def extra_required(
    command: str, extra: str | None = None, *, at_import: bool = False
) -> Iterator[None]:
    """Turn a missing optional dependency inside the block into a :class:`MissingExtraError`.

    Args:
        command: The command named in the message, e.g. ``"vitp monai-bundle"``.
        extra: The extra of the command, used when the missing module is the extra's own
            package and not in :data:`EXTRA_OF_MODULE` (e.g. ``vitp_monai`` itself).
        at_import: The block is a package's import-time code: if the error is not caught,
            the interpreter prints its one line instead of a traceback
            (``VITP_DEBUG=1``: the traceback).

    Raises:
        MissingExtraError: When a module of an extra is missing.
        ModuleNotFoundError: Unchanged, for any other missing module.
    """
    try:
        yield
    except MissingExtraError:
        raise
    except ModuleNotFoundError as err:
        module = err.name or ""
        found = extra_for_module(module)
        if found is None and extra is not None and module.startswith(f"vitp_{extra}"):
            found = extra
        if found is None:
            raise
        if at_import:
            _install_excepthook()
        raise MissingExtraError(command, module, found) from err


@contextmanager
def exit_on_missing_extra(command: str, extra: str | None = None) -> Iterator[None]:
    """For console scripts: print a missing extra's one-line message and exit with 1.

    ``VITP_DEBUG=1`` re-raises instead, with the traceback.
    """
    try:
        with extra_required(command, extra):
            yield
    except MissingExtraError as err:
        if os.environ.get("VITP_DEBUG"):
            raise
        print(err, file=sys.stderr)
        raise SystemExit(1) from err
