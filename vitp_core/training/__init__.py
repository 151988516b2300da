"""Lightning training of ViTP: module, schedule, run artifacts and the LightningCLI.

The module is imported on first use, so that light parts (``vitp pretrain``'s start
checks) load without the training libraries.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ViTPPretrainModule"]


def __getattr__(name: str) -> Any:
    if name == "ViTPPretrainModule":
        from vitp_core.training.module import ViTPPretrainModule

        return ViTPPretrainModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
