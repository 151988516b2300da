"""Dubai aerial semantic segmentation (MBRSC / Humans in the Loop), masks as colours.

Layout::

    root/classes.json
    root/tile_<k>/images/image_part_<nnn>.jpg
    root/tile_<k>/masks/image_part_<nnn>.png     RGB colour per class

The released ``classes.json`` lists colours that do not occur in the masks; the masks
use the colours in :attr:`DubaiSegmentation.colours` (checked pixel by pixel on the
release: every mask pixel has one of them, or pure black, which marks unlabelled
areas and is mapped to ``unlabeled``). Any other colour is an error naming the file.

Images range from 509x544 to 2149x1480 px; each is cut into ``tile_size`` windows
(the last row/column of windows is shifted back to stay inside the image, so windows
may overlap and nothing is padded). Splits go by tile, so that no scene is shared:
tiles 1, 3, 4, 5, 7 train; tile 2 (the smallest) val; tiles 6 and 8 test.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from PIL import Image
from torch import Tensor
from torchgeo.datasets import NonGeoDataset

from vitp_torchgeo.datasets.root import resolve_root

__all__ = ["DubaiSegmentation"]


def _window_starts(length: int, size: int) -> list[int]:
    """Starts of windows of ``size`` px covering ``length`` px without padding."""
    starts = list(range(0, length - size + 1, size))
    if starts[-1] + size < length:
        starts.append(length - size)
    return starts


class DubaiSegmentation(NonGeoDataset):
    """Dubai aerial imagery, 6 classes, as fixed-size windows.

    Samples are ``{"image": float (3, t, t) in 0-255, "mask": long (t, t)}``.
    """

    classes: ClassVar[tuple[str, ...]] = (
        "water",
        "land",
        "road",
        "building",
        "vegetation",
        "unlabeled",
    )
    #: Mask colour (hex RGB) of each class, as found in the released masks.
    colours: ClassVar[dict[str, str]] = {
        "water": "#E2A929",
        "land": "#8429F6",
        "road": "#6EC1E4",
        "building": "#3C1098",
        "vegetation": "#FEDD3A",
        "unlabeled": "#9B9B9B",
    }
    #: Extra mask colours and the class they mean.
    colour_aliases: ClassVar[dict[str, str]] = {"#000000": "unlabeled"}
    split_tiles: ClassVar[dict[str, tuple[int, ...]]] = {
        "train": (1, 3, 4, 5, 7),
        "val": (2,),
        "test": (6, 8),
    }

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        split: str = "train",
        tile_size: int = 256,
        transforms: Callable[[dict[str, Tensor]], dict[str, Tensor]] | None = None,
        cache_images: int | None = None,
    ) -> None:
        """Initialize a new DubaiSegmentation dataset.

        Args:
            root: Folder holding ``classes.json`` and ``tile_*``; default
                ``$VITP_DATA/rs/dubai``.
            split: One of ``train``, ``val``, ``test``.
            tile_size: Side of the square windows in pixels (at most 509).
            transforms: Function applied to each sample dict.
            cache_images: Number of decoded images (and masks) kept in memory, as
                uint8; ``None`` keeps all of the split (about 0.3 GB for train).
        """
        if split not in self.split_tiles:
            raise ValueError(f"split={split!r}; use one of {tuple(self.split_tiles)}.")
        self.root = resolve_root(root, "rs/dubai")
        if not (self.root / "classes.json").is_file():
            raise FileNotFoundError(f"{self.root}/classes.json not found: not a Dubai folder.")
        self.split = split
        self.tile_size = tile_size
        self.transforms = transforms
        self.cache_images = cache_images
        self._cache: OrderedDict[Path, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lookup = self._colour_lookup()
        self.windows = self._index_windows()

    def _colour_lookup(self) -> dict[int, int]:
        """``{0xRRGGBB: class index}`` for class colours and aliases."""
        pairs = [*((c, n) for n, c in self.colours.items()), *self.colour_aliases.items()]
        return {int(colour[1:], 16): self.classes.index(name) for colour, name in pairs}

    def _pairs(self) -> list[tuple[Path, Path]]:
        pairs = []
        for tile in self.split_tiles[self.split]:
            folder = self.root / f"tile_{tile}"
            for image in sorted((folder / "images").glob("*.jpg")):
                mask = folder / "masks" / f"{image.stem}.png"
                if not mask.is_file():
                    raise FileNotFoundError(f"{image} has no mask {mask}.")
                pairs.append((image, mask))
        if not pairs:
            raise FileNotFoundError(f"No images for split {self.split!r} under {self.root}.")
        return pairs

    def _index_windows(self) -> list[tuple[Path, Path, int, int]]:
        windows = []
        for image, mask in self._pairs():
            with Image.open(image) as img:
                width, height = img.size
            if min(width, height) < self.tile_size:
                raise ValueError(
                    f"{image} is {width}x{height} px, smaller than tile_size={self.tile_size}."
                )
            for top in _window_starts(height, self.tile_size):
                for left in _window_starts(width, self.tile_size):
                    windows.append((image, mask, top, left))
        return windows

    def _decode_mask(self, path: Path) -> np.ndarray:
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.int64)
        packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        colours, inverse = np.unique(packed, return_inverse=True)
        unknown = [f"#{c:06X}" for c in colours if int(c) not in self._lookup]
        if unknown:
            raise ValueError(
                f"{path}: mask colours {unknown} are not Dubai classes "
                f"{ {**self.colours, **self.colour_aliases} }."
            )
        table = np.array([self._lookup[int(c)] for c in colours], dtype=np.int64)
        return table[inverse].reshape(packed.shape)

    def _load(self, image: Path, mask: Path) -> tuple[np.ndarray, np.ndarray]:
        if image in self._cache:
            self._cache.move_to_end(image)
            return self._cache[image]
        with Image.open(image) as img:
            pixels = np.array(img.convert("RGB"), dtype=np.uint8)
        labels = self._decode_mask(mask).astype(np.uint8)
        if labels.shape != pixels.shape[:2]:
            raise ValueError(
                f"{mask} is {labels.shape[::-1]} px but {image} is {pixels.shape[1::-1]}."
            )
        self._cache[image] = (pixels, labels)
        while self.cache_images is not None and len(self._cache) > self.cache_images:
            self._cache.popitem(last=False)
        return pixels, labels

    def __len__(self) -> int:
        """Number of windows in the split."""
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        """Return window ``index`` as ``{"image", "mask"}``."""
        image, mask, top, left = self.windows[index]
        pixels, labels = self._load(image, mask)
        rows, cols = slice(top, top + self.tile_size), slice(left, left + self.tile_size)
        sample = {
            "image": torch.from_numpy(pixels[rows, cols]).permute(2, 0, 1).float(),
            "mask": torch.from_numpy(labels[rows, cols]).long(),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def plot(self, sample: dict[str, Tensor], suptitle: str | None = None) -> Figure:
        """Show image, mask and, if present, prediction in the classes' colours."""
        cmap = ListedColormap([self.colours[name] for name in self.classes])
        panels = [("image", None), ("mask", cmap), ("prediction", cmap)]
        panels = [(key, c) for key, c in panels if key in sample]
        fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4), squeeze=False)
        for ax, (key, colours) in zip(axes[0], panels, strict=True):
            if colours is None:
                ax.imshow(np.clip(sample[key].permute(1, 2, 0).numpy() / 255.0, 0, 1))
            else:
                ax.imshow(sample[key].numpy(), cmap=colours, vmin=0, vmax=len(self.classes) - 1)
            ax.set_title(key)
            ax.axis("off")
        if suptitle is not None:
            fig.suptitle(suptitle)
        return fig
