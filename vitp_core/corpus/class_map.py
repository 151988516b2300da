"""Class maps: what the values or colours of a label mask mean, and mask decoding.

A class map file is JSON in one of these forms::

    {"classes": [{"name": "building", "color": "#3C1098"},
                 {"name": "unlabeled", "color": ["#9B9B9B", "#000000"], "ignore": true}]}
    {"classes": [{"title": "Building", "color": "#D0021B"}, ...]}     # Supervisely / Dubai
    {"0": "background", "1": "building", "2": "road"}                 # index masks

Entries with colours decode RGB masks; the class index is the entry's position (or its
``"index"``). Entries marked ``"ignore"`` (and names such as ``background``,
``unlabeled``) are not asked about.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["ClassMap", "MaskDecodeError", "load_class_map", "read_label_mask"]

_IGNORED_NAMES = frozenset({"background", "unlabeled", "unlabelled", "nodata", "no data", "void"})


class MaskDecodeError(ValueError):
    """A mask holds values or colours that its class map does not define."""


def _hex_to_rgb(color: str | Sequence[int]) -> tuple[int, int, int]:
    if isinstance(color, str):
        text = color.lstrip("#")
        if len(text) != 6:
            raise ValueError(f"colour {color!r} is not #RRGGBB.")
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
    r, g, b = (int(v) for v in color)
    return r, g, b


@dataclass(frozen=True)
class ClassMap:
    """Class names by index, optional colours, and the indices to ignore.

    Attributes:
        names: Class index -> name.
        colors: RGB colour -> class index (empty for index masks).
        ignore: Indices that are not a class.
        source: File the map was read from, for messages.
    """

    names: dict[int, str]
    colors: dict[tuple[int, int, int], int] = field(default_factory=dict)
    ignore: frozenset[int] = frozenset()
    source: str = "<class map>"

    @classmethod
    def from_names(
        cls, names: Sequence[str] | dict[int, str], ignore: Sequence[int] = ()
    ) -> ClassMap:
        """A map for index masks from a list (index = position) or a dict of names."""
        mapping = dict(enumerate(names)) if not isinstance(names, dict) else dict(names)
        auto = {k for k, v in mapping.items() if v.lower() in _IGNORED_NAMES}
        return cls(
            {int(k): str(v) for k, v in mapping.items()}, ignore=frozenset(auto | set(ignore))
        )


def _from_entries(entries: list, source: str) -> ClassMap:
    names, colors, ignore = {}, {}, set()
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"{source}: class entry {position} must be an object.")
        name = str(entry.get("name", entry.get("title", ""))).strip()
        if not name:
            raise ValueError(f"{source}: class entry {position} needs a 'name'.")
        index = int(entry.get("index", position))
        names[index] = name.lower()
        color = entry.get("color")
        is_list = isinstance(color, list) and color and not isinstance(color[0], int)
        for item in (color if is_list else [color]) if color is not None else []:
            colors[_hex_to_rgb(item)] = index
        if entry.get("ignore") or name.lower() in _IGNORED_NAMES:
            ignore.add(index)
    return ClassMap(names, colors, frozenset(ignore), source)


def load_class_map(path: str | Path) -> ClassMap:
    """Read a class map JSON file (see the module docstring for the forms).

    Raises:
        ValueError: Naming the file and the malformed entry.
    """
    path = Path(path)
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: class map is not valid JSON ({err.msg}).") from err
    if isinstance(spec, dict) and isinstance(spec.get("classes"), list):
        return _from_entries(spec["classes"], str(path))
    if isinstance(spec, list):
        return _from_entries(spec, str(path))
    if isinstance(spec, dict) and all(k.lstrip("-").isdigit() for k in spec):
        class_map = ClassMap.from_names({int(k): str(v) for k, v in spec.items()})
        return ClassMap(class_map.names, ignore=class_map.ignore, source=str(path))
    raise ValueError(
        f"{path}: a class map is {{'classes': [{{'name', 'color'}}, ...]}} or {{'0': 'name', ...}}."
    )


def _decode_colors(rgb: np.ndarray, class_map: ClassMap, path: Path) -> np.ndarray:
    packed = (
        (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    )
    keys = np.array([(r << 16) | (g << 8) | b for r, g, b in class_map.colors], dtype=np.int32)
    values = np.array(list(class_map.colors.values()), dtype=np.int32)
    order = np.argsort(keys)
    keys, values = keys[order], values[order]
    position = np.clip(np.searchsorted(keys, packed), 0, len(keys) - 1)
    known = keys[position] == packed
    if not known.all():
        unknown, counts = np.unique(packed[~known], return_counts=True)
        listed = ", ".join(
            f"#{int(u):06X} ({c} px)"
            for u, c in sorted(zip(unknown, counts, strict=True), key=lambda x: -x[1])[:5]
        )
        defined = ", ".join(f"#{(r << 16) | (g << 8) | b:06X}" for r, g, b in class_map.colors)
        raise MaskDecodeError(
            f"{path}: mask colours not in the class map {class_map.source}: {listed}. "
            f"The map defines {defined}; add the missing colours to it (mark them "
            '"ignore": true if they are not a class).'
        )
    return values[position]


def read_label_mask(path: str | Path, class_map: ClassMap) -> np.ndarray:
    """Read a mask image as an ``(H, W)`` int32 array of class indices.

    RGB(A) masks are decoded through ``class_map.colors``; single-channel and palette
    masks are taken as class indices.

    Raises:
        MaskDecodeError: When a colour or value is not in the class map.
        OSError: When the file is missing or not an image.
    """
    path = Path(path)
    with Image.open(path) as image:
        if image.mode in ("RGB", "RGBA") and class_map.colors:
            return _decode_colors(np.asarray(image.convert("RGB")), class_map, path)
        if image.mode in ("RGB", "RGBA"):
            raise MaskDecodeError(
                f"{path}: colour mask but the class map {class_map.source} has no colours; "
                "give each class a 'color'."
            )
        mask = np.asarray(image).astype(np.int32)
    values = np.unique(mask)
    unknown = sorted(set(values.tolist()) - set(class_map.names) - set(class_map.ignore))
    if unknown:
        raise MaskDecodeError(
            f"{path}: mask values {unknown[:10]} are not in the class map {class_map.source} "
            f"(it defines {sorted(class_map.names)})."
        )
    return mask
