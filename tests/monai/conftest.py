"""Fixtures of the vitp_monai tests (helpers live in vitp_monai_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from vitp_monai_helpers import write_export


@pytest.fixture
def tiny_export(tmp_path: Path) -> Path:
    """Path of a tiny ViTP export (64 px, patch 16, RGB)."""
    return write_export(tmp_path / "export")
