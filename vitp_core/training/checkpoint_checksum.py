"""SHA-256 records of checkpoints: ``last.ckpt`` -> ``last.ckpt.sha256``.

The record uses the ``sha256sum`` format (``<hex>  last.ckpt``), so ``sha256sum -c
last.ckpt.sha256`` checks it by hand. :class:`~vitp_core.training.checkpoint_integrity.
ChecksummedCheckpointIO` writes one with every checkpoint of a run; resumes and
``vitp export`` verify it. This module imports no training library.
"""

from __future__ import annotations

import os
from pathlib import Path

from vitp_core.atomic_io import atomic_write_text, sha256_file

__all__ = [
    "CHECKSUM_SUFFIX",
    "CheckpointChecksumError",
    "checksum_path",
    "verify_checkpoint_checksum",
    "write_checkpoint_checksum",
]


class CheckpointChecksumError(RuntimeError):
    """A checkpoint does not match its recorded SHA-256, or has no record."""


#: Suffix of a checkpoint's checksum file (``last.ckpt`` -> ``last.ckpt.sha256``).
CHECKSUM_SUFFIX = ".sha256"


def checksum_path(checkpoint: str | os.PathLike[str]) -> Path:
    """The checksum file of a checkpoint: ``last.ckpt`` -> ``last.ckpt.sha256``."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + CHECKSUM_SUFFIX)


def write_checkpoint_checksum(
    checkpoint: str | os.PathLike[str], digest: str | None = None
) -> Path:
    """Record the SHA-256 of ``checkpoint`` beside it (atomically) and return the record's path."""
    checkpoint = Path(checkpoint)
    digest = digest or sha256_file(checkpoint)
    return atomic_write_text(checksum_path(checkpoint), f"{digest}  {checkpoint.name}\n")


def _recorded_digest(record: Path) -> str:
    text = record.read_text(encoding="utf-8").strip()
    digest = text.split()[0] if text else ""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
        raise CheckpointChecksumError(f"{record}: not a SHA-256 record ({text[:80]!r}).")
    return digest.lower()


def verify_checkpoint_checksum(
    checkpoint: str | os.PathLike[str], skip_hint: str = "--verify_checksum false"
) -> None:
    """Check ``checkpoint`` against its ``.sha256`` record.

    Args:
        checkpoint: The checkpoint file.
        skip_hint: How the user skips the check, named in the error.

    Raises:
        CheckpointChecksumError: When there is no record or the file does not match it.
    """
    checkpoint = Path(checkpoint)
    record = checksum_path(checkpoint)
    if not record.is_file():
        raise CheckpointChecksumError(
            f"{checkpoint}: no checksum record {record.name} beside it, so it cannot be "
            f"checked (vitp writes one with every checkpoint). If you trust the file, "
            f"skip the check with {skip_hint}."
        )
    expected, actual = _recorded_digest(record), sha256_file(checkpoint)
    if actual != expected:
        raise CheckpointChecksumError(
            f"{checkpoint}: SHA-256 {actual} does not match {expected} recorded in "
            f"{record.name}: the file is corrupt or was replaced. Use an earlier checkpoint, "
            f"or, if you trust it, skip the check with {skip_hint}."
        )
