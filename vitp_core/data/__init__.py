"""Turning instruction records into batches for the VLM.

Names are imported on first use, so that light parts (the settings checks) load without
the training libraries.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "InstructionDataModule",
    "ProcessedSample",
    "SampleProcessor",
    "collate_samples",
    "dynamic_tiles",
]

_WHERE = {
    "InstructionDataModule": "vitp_core.data.datamodule",
    "ProcessedSample": "vitp_core.data.processor",
    "SampleProcessor": "vitp_core.data.processor",
    "collate_samples": "vitp_core.data.collate",
    "dynamic_tiles": "vitp_core.data.tiling",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
