"""Fixtures for vitp_torchgeo tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from vitp_torchgeo_helpers import write_tiny_export


@pytest.fixture
def tiny_export(tmp_path: Path) -> Path:
    """A tiny RGB ViTP export in ``tmp_path``."""
    return write_tiny_export(tmp_path / "export" / "backbone.safetensors")
