"""Download of released ViTP weight files into the torch hub cache.

The official ViTP backbones are safetensors files on the Hugging Face Hub, which
torchvision's ``load_state_dict_from_url`` (a pickle loader) cannot read. This module
fetches a URL once into ``$TORCH_HOME/hub/checkpoints/vitp/`` (torch's own cache, so
``TORCH_HOME`` redirects it) and returns the local path. Any URL that ``urllib`` opens
works, including ``file://`` URLs of a local mirror.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import torch

from vitp_core.atomic_io import sha256_file

__all__ = ["cache_dir", "download_weights"]

_logger = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Folder that holds downloaded ViTP weights (``<torch hub dir>/checkpoints/vitp``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / "vitp"


def download_weights(url: str, *, sha256: str | None = None, progress: bool = True) -> Path:
    """Return a local copy of ``url``, downloading it on first use.

    Args:
        url: ``https://`` (or ``file://``) address of a weights file.
        sha256: Expected SHA-256 of the file; checked after download and on reuse.
        progress: Show a progress bar while downloading.

    Returns:
        Path of the cached file.

    Raises:
        RuntimeError: When the download fails or the file's SHA-256 differs.
    """
    name = unquote(Path(urlparse(url).path).name)
    if not name:
        raise ValueError(f"Cannot derive a file name from the weights URL {url!r}.")
    target = cache_dir() / name
    if not target.exists():
        _logger.info("Downloading %s to %s", url, target)
        try:
            # download_url_to_file writes to a temporary file in the same folder and
            # renames it, so a reader never sees a partial file.
            target.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, os.fspath(target), progress=progress)
        except OSError as err:
            raise RuntimeError(
                f"Could not download ViTP weights from {url}: {err}. Without network access, "
                f"download the file elsewhere and place it at {target}, or pass its local "
                "path as `weights`."
            ) from err
    if sha256:
        actual = sha256_file(target)
        if actual != sha256:
            raise RuntimeError(
                f"{target}: SHA-256 {actual} differs from the expected {sha256} for {url}; "
                "delete the file and download it again."
            )
    return target
