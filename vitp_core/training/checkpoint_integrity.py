"""Checkpoints that can be trusted: never NaN, always with a checksum, checked on load.

Every checkpoint a vitp run writes goes through :class:`ChecksummedCheckpointIO` (a
Lightning ``CheckpointIO`` plugin):

* a checkpoint whose weights hold NaN/Inf is refused before anything is written, so the
  previous good ``last.ckpt`` survives;
* the file is written atomically and its SHA-256 recorded beside it in
  ``<name>.ckpt.sha256`` (the ``sha256sum`` format: ``sha256sum -c last.ckpt.sha256``
  checks it by hand);
* before a resume reads a checkpoint, its SHA-256 is compared with that record, and a
  missing record is an error too. To resume from a checkpoint without one (written by
  another tool) set ``--verify_checksum false``; ``vitp export`` takes
  ``--no-verify-checksum``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from vitp_core.atomic_io import atomic_path, sha256_file
from vitp_core.export import check_finite_state
from vitp_core.training.checkpoint_checksum import (
    CheckpointChecksumError,
    checksum_path,
    verify_checkpoint_checksum,
    write_checkpoint_checksum,
)

__all__ = [
    "CheckpointChecksumError",
    "ChecksummedCheckpointIO",
    "checksum_path",
    "verify_checkpoint_checksum",
    "write_checkpoint_checksum",
]


class ChecksummedCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O: finite weights only, atomic writes, SHA-256 on save and load.

    Args:
        verify_checksum: Check a checkpoint's SHA-256 record before loading it.
    """

    def __init__(self, verify_checksum: bool = True) -> None:
        super().__init__()
        self.verify_checksum = verify_checksum

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike[str], storage_options: Any = None
    ) -> None:
        """Write ``checkpoint`` atomically with its checksum record; refuse NaN/Inf weights.

        Raises:
            vitp_core.export.NonFiniteWeightsError: Nothing is written then.
        """
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options.")
        check_finite_state(checkpoint.get("state_dict", {}), f"checkpoint {path}")
        path = Path(path)
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)
            digest = sha256_file(tmp)
            # the record first: a crash between the two renames leaves a record that the
            # check reports, never a checkpoint that passes unchecked
            write_checkpoint_checksum(path, digest)

    def load_checkpoint(
        self,
        path: str | os.PathLike[str],
        map_location: Callable | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        """Check the SHA-256 record (unless disabled), then load as Lightning does."""
        if self.verify_checksum and Path(path).is_file():
            verify_checkpoint_checksum(path)
        return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)

    def remove_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Remove a checkpoint and its checksum record."""
        super().remove_checkpoint(path)
        checksum_path(path).unlink(missing_ok=True)
