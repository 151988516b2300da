"""The LEVIR-CD sample pairs shipped with the project data (a smoke test, not a benchmark).

Layout (as LEVIR-CD's own)::

    root/A/<name>.png   first date      root/B/<name>.png   second date
    root/label/<name>.png  binary change mask (0 / 255)

Pairs without a label are left out. The split is the LEVIR-CD split in each file name's
prefix (``train_``, ``val_``, ``test_``). Samples are those of
:class:`torchgeo.datasets.LEVIRCD`: ``image`` of shape ``(2, 3, H, W)``, ``mask`` of
shape ``(1, H, W)``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from torch import Tensor
from torchgeo.datasets.levircd import LEVIRCDBase

from vitp_torchgeo.datasets.root import resolve_root

__all__ = ["LEVIRCDSamples"]

_logger = logging.getLogger(__name__)


class LEVIRCDSamples(LEVIRCDBase):
    """LEVIR-CD building-change pairs from a plain ``A``/``B``/``label`` folder."""

    splits: ClassVar[tuple[str, ...]] = ("train", "val", "test")

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        split: str = "train",
        transforms: Callable[[dict[str, Tensor]], dict[str, Tensor]] | None = None,
    ) -> None:
        """Initialize a new LEVIRCDSamples dataset.

        Args:
            root: Folder holding ``A``, ``B`` and ``label``; default
                ``$VITP_DATA/rs/levir_cd_samples``.
            split: One of ``train``, ``val``, ``test`` (file-name prefix).
            transforms: Function applied to each sample dict.
        """
        if split not in self.splits:
            raise ValueError(f"split={split!r}; use one of {self.splits}.")
        super().__init__(resolve_root(root, "rs/levir_cd_samples"), split, transforms)
        if not self.files:
            raise FileNotFoundError(f"No labelled {split} pairs under {self.root}.")

    def _check_integrity(self) -> bool:
        return all((Path(self.root) / name).is_dir() for name in self.directories)

    def _download(self) -> None:
        raise RuntimeError("LEVIRCDSamples reads local files only; there is nothing to download.")

    def _load_files(self, root: Path, split: str) -> list[dict[str, str]]:
        root = Path(root)
        files = []
        for first in sorted((root / "A").glob(f"{split}_*.png")):
            second, mask = root / "B" / first.name, root / "label" / first.name
            if not (second.is_file() and mask.is_file()):
                _logger.info("Skipping %s: no B image or no label.", first.name)
                continue
            files.append({"image1": str(first), "image2": str(second), "mask": str(mask)})
        return files
