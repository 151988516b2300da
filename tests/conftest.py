"""Shared fixtures: the real-data root and tiny seeded corpora."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tiny_data import write_tiny_corpus

REPO_ROOT = Path(__file__).resolve().parents[1]


def data_root() -> Path | None:
    """The real-data folder: ``VITP_DATA``, else ``../shared/data`` beside the repo, if present."""
    candidate = Path(os.environ.get("VITP_DATA", REPO_ROOT.parent / "shared" / "data"))
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def vitp_data() -> Path:
    """Real data root; skips the test when it is absent."""
    root = data_root()
    if root is None:
        pytest.skip("real data not found: set VITP_DATA to the shared data folder")
    return root


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    """A 12-record colour corpus of 32 px PNGs."""
    return write_tiny_corpus(tmp_path / "tiny")
