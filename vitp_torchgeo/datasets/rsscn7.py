"""RSSCN7 scene classification (Zou et al., GRSL 2015) from a ``labels.jsonl`` listing.

Layout::

    root/labels.jsonl       {"image": "images/grass/a001.jpg", "label": "grass", "split": "train"}
    root/images/<class>/*.jpg

The listing's ``train`` records are split again into ``train`` (9 of every 10 per class)
and ``val`` (every 10th per class, in listing order); ``test`` is the listing's test split.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image
from torch import Tensor
from torchgeo.datasets import NonGeoDataset

from vitp_torchgeo.datasets.root import resolve_root

__all__ = ["RSSCN7"]


class RSSCN7(NonGeoDataset):
    """RSSCN7: 2,800 Google-Earth RGB scenes in 7 classes.

    Samples are ``{"image": float (3, H, W) in 0-255, "label": long ()}``.
    """

    classes: ClassVar[tuple[str, ...]] = (
        "field",
        "forest",
        "grass",
        "industry",
        "parking",
        "residential",
        "river_lake",
    )
    splits: ClassVar[tuple[str, ...]] = ("train", "val", "test")
    #: One listing ``train`` record in this many (per class) goes to ``val``.
    val_every = 10

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        split: str = "train",
        transforms: Callable[[dict[str, Tensor]], dict[str, Tensor]] | None = None,
    ) -> None:
        """Initialize a new RSSCN7 dataset.

        Args:
            root: Folder holding ``labels.jsonl`` and ``images/``; default
                ``$VITP_DATA/rs/rsscn7``.
            split: One of ``train``, ``val``, ``test``.
            transforms: Function applied to each sample dict.
        """
        if split not in self.splits:
            raise ValueError(f"split={split!r}; use one of {self.splits}.")
        self.root = resolve_root(root, "rs/rsscn7")
        self.split = split
        self.transforms = transforms
        self.records = self._load_records()

    def _read_listing(self) -> list[dict[str, Any]]:
        listing = self.root / "labels.jsonl"
        if not listing.is_file():
            raise FileNotFoundError(f"{listing} not found: {self.root} is not an RSSCN7 folder.")
        records = []
        for number, line in enumerate(listing.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            record = json.loads(line)
            if record.get("label") not in self.classes or record.get("split") not in (
                "train",
                "test",
            ):
                raise ValueError(
                    f"{listing}:{number}: expected a label in {self.classes} and split "
                    f"'train' or 'test', got {line.strip()!r}."
                )
            records.append(record)
        return records

    def _load_records(self) -> list[tuple[Path, int]]:
        counts = dict.fromkeys(self.classes, 0)
        chosen = []
        for record in self._read_listing():
            if record["split"] == "test":
                keep = self.split == "test"
            else:
                counts[record["label"]] += 1
                is_val = counts[record["label"]] % self.val_every == 0
                keep = self.split == ("val" if is_val else "train")
            if keep:
                chosen.append((self.root / record["image"], self.classes.index(record["label"])))
        return chosen

    def __len__(self) -> int:
        """Number of scenes in the split."""
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        """Return scene ``index`` as ``{"image", "label"}``."""
        path, label = self.records[index]
        with Image.open(path) as img:
            array = np.asarray(img.convert("RGB"), dtype=np.float32)
        sample = {
            "image": torch.from_numpy(array).permute(2, 0, 1).contiguous(),
            "label": torch.tensor(label, dtype=torch.long),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def plot(self, sample: dict[str, Tensor], suptitle: str | None = None) -> Figure:
        """Show a sample (image in 0-255) with its label and, if present, prediction."""
        fig, ax = plt.subplots(figsize=(4, 4))
        image = sample["image"].permute(1, 2, 0).numpy()
        ax.imshow(np.clip(image / 255.0, 0, 1))
        ax.axis("off")
        title = f"label: {self.classes[int(sample['label'])]}"
        if "prediction" in sample:
            title += f"\nprediction: {self.classes[int(sample['prediction'])]}"
        ax.set_title(title)
        if suptitle is not None:
            fig.suptitle(suptitle)
        return fig
