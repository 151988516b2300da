"""Where the real data live: a ``root`` argument, else ``$VITP_DATA/<relative path>``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["VITP_DATA_ENV", "resolve_root"]

#: Environment variable naming the data folder (the one holding ``rs/`` and ``med/``).
VITP_DATA_ENV = "VITP_DATA"


def resolve_root(root: str | os.PathLike[str] | None, relative: str) -> Path:
    """Return ``root``, or ``$VITP_DATA/relative`` when ``root`` is ``None``.

    Args:
        root: Dataset folder given by the user (``--data.root``), or ``None``.
        relative: Location of the dataset inside ``$VITP_DATA``, e.g. ``"rs/rsscn7"``.

    Returns:
        The dataset folder.

    Raises:
        FileNotFoundError: When the folder does not exist, saying how to point to it.
    """
    if root is None:
        base = os.environ.get(VITP_DATA_ENV)
        if not base:
            raise FileNotFoundError(
                f"No dataset root given and {VITP_DATA_ENV} is not set: pass root=... "
                f"(--data.root on the command line) or set {VITP_DATA_ENV} to the folder "
                f"that contains {relative}."
            )
        path = Path(base).expanduser() / relative
    else:
        path = Path(root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"Dataset folder {path} does not exist; pass root=... (--data.root) or set "
            f"{VITP_DATA_ENV} to the folder that contains {relative}."
        )
    return path
