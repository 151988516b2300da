from pathlib import Path

import pytest

from vitp_core.atomic_io import sha256_file
from vitp_torchgeo.hub import cache_dir, download_weights


@pytest.fixture(autouse=True)
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


def test_download_caches_file_url(tmp_path: Path) -> None:
    source = tmp_path / "ViTP_demo.safetensors"
    source.write_bytes(b"weights")
    first = download_weights(source.as_uri(), progress=False)
    assert first == cache_dir() / "ViTP_demo.safetensors"
    assert first.read_bytes() == b"weights"
    source.unlink()  # the cached copy is reused
    assert download_weights(source.as_uri(), progress=False) == first


def test_checksum_mismatch_is_reported(tmp_path: Path) -> None:
    source = tmp_path / "w.safetensors"
    source.write_bytes(b"weights")
    assert download_weights(source.as_uri(), sha256=sha256_file(source), progress=False).exists()
    with pytest.raises(RuntimeError, match="SHA-256"):
        download_weights(source.as_uri(), sha256="0" * 64, progress=False)


def test_unreachable_url_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="place it at"):
        download_weights((tmp_path / "missing.safetensors").as_uri(), progress=False)
