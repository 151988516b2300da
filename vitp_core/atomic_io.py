"""Atomic file writing and checksums for everything a user keeps."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_directory",
    "atomic_path",
    "atomic_write_json",
    "atomic_write_text",
    "sha256_file",
]


def _umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it over ``target`` on success.

    The temporary file lives in the same folder so that the final ``os.replace`` is
    atomic on POSIX file systems: readers see either the old file or the complete new
    one, never a partial write. On error the temporary file is removed and ``target``
    is left untouched. The file gets the usual permissions (``0666`` less the umask).

    Args:
        target: Final file path.

    Yields:
        The temporary path to write to.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes 0600 and some writers replace the file (safetensors does): the
        # kept file gets the usual permissions, set once the writer is done
        tmp.chmod(0o666 & ~_umask())
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_directory(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder next to ``target``; it replaces ``target`` on success.

    For outputs that are folders (a tokenizer saved with ``save_pretrained``): readers
    never see a half-written folder. An existing ``target`` is removed just before the
    rename; on error the temporary folder is removed and ``target`` is left untouched.
    The folder gets the usual permissions (``0777`` less the umask).

    Args:
        target: Final folder path.

    Yields:
        The temporary folder to write into.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield staging
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; a kept folder gets the usual
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _write_with(target: str | os.PathLike[str], writer: Callable[[Path], None]) -> Path:
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)


def atomic_write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Atomically write a UTF-8 text file and return its path."""
    return _write_with(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(target: str | os.PathLike[str], payload: Any) -> Path:
    """Atomically write ``payload`` as indented JSON and return its path."""
    return atomic_write_text(target, json.dumps(payload, indent=2, sort_keys=False) + "\n")


def sha256_file(path: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks of ``chunk_bytes`` bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
