"""Dictionary transforms the 2D image-folder bundles need beyond MONAI's own.

* :class:`EnsureChannelsd`: any PNG/JPEG/TIFF (grey, RGB, RGBA, grey saved as RGB) to the
  network's channel count;
* :class:`ToLabelIndicesd`: mask pixel values to class indices (binary masks saved as
  0/255, or class-index masks), naming the file when a value is not a class;
* :class:`ApplyFieldOfViewd`: background outside a field-of-view mask (fundus images),
  for predictions and for the labels that metrics compare them with.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform

__all__ = ["ApplyFieldOfViewd", "EnsureChannelsd", "ToLabelIndicesd"]


def _source(data: Mapping[Hashable, Any], key: Hashable) -> str:
    value = data[key]
    meta = value.meta if isinstance(value, MetaTensor) else {}
    return str(meta.get("filename_or_obj", key))


class EnsureChannelsd(MapTransform):
    """Give channel-first images exactly ``channels`` channels.

    An alpha channel (4 -> 3, 2 -> 1) is dropped; RGB becomes grey by averaging; grey is
    repeated to RGB; a multi-channel mask keeps its first channel.
    """

    def __init__(self, keys: KeysCollection, channels: int, allow_missing_keys: bool = False):
        """Initialize a new EnsureChannelsd.

        Args:
            keys: Keys of channel-first images.
            channels: Channels wanted (1 or 3 for images, 1 for masks).
            allow_missing_keys: Skip absent keys (optional field-of-view masks).
        """
        super().__init__(keys, allow_missing_keys)
        self.channels = channels

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Adjust the channels of every key."""
        out = dict(data)
        for key in self.key_iterator(out):
            image = out[key]
            count = image.shape[0]
            if count in (2, 4):  # drop alpha
                image, count = image[: count - 1], count - 1
            if count == self.channels:
                out[key] = image
            elif self.channels == 1:
                out[key] = image.float().mean(dim=0, keepdim=True) if count == 3 else image[:1]
            elif count == 1:
                out[key] = image.repeat(self.channels, *([1] * (image.ndim - 1)))
            else:
                raise ValueError(
                    f"{_source(out, key)} has {count} channels; the network reads "
                    f"{self.channels}. Set in_channels to {count}."
                )
        return out


class ToLabelIndicesd(MapTransform):
    """Mask pixel values -> class indices.

    With ``num_classes == 2`` any value above 0 is the foreground (masks saved as 0/255
    or 0/1); otherwise values are the class indices themselves and must be below
    ``num_classes``. ``values`` maps explicit pixel values to indices instead.
    """

    def __init__(
        self,
        keys: KeysCollection,
        num_classes: int = 2,
        values: Sequence[int] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        """Initialize a new ToLabelIndicesd.

        Args:
            keys: Mask keys.
            num_classes: Number of classes, background included.
            values: Pixel value of each class in index order (e.g. ``[0, 128, 255]``).
            allow_missing_keys: Skip absent keys.
        """
        super().__init__(keys, allow_missing_keys)
        self.num_classes = num_classes
        self.values = None if values is None else [int(v) for v in values]

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Convert every mask key."""
        out = dict(data)
        for key in self.key_iterator(out):
            mask = out[key]
            raw = torch.as_tensor(mask).round().long()
            if self.values is not None:
                labels = torch.full_like(raw, -1)
                for index, value in enumerate(self.values):
                    labels[raw == value] = index
            elif self.num_classes == 2:
                labels = (raw > 0).long()
            else:
                labels = raw
            bad = (labels < 0) | (labels >= self.num_classes)
            if bad.any():
                found = sorted(set(raw[bad].unique().tolist()))[:10]
                raise ValueError(
                    f"{_source(out, key)}: mask values {found} are not classes 0..."
                    f"{self.num_classes - 1}; set num_classes or mask_values."
                )
            result = labels.to(torch.uint8 if self.num_classes <= 256 else torch.int64)
            if isinstance(mask, MetaTensor):
                result = MetaTensor(
                    result, meta=mask.meta, applied_operations=mask.applied_operations
                )
            out[key] = result
        return out


class ApplyFieldOfViewd(MapTransform):
    """Set everything outside a field-of-view mask to background (class 0).

    Keys may hold class indices ``(1, H, W)`` or one-hot/probabilities ``(C, H, W)``; a
    record without the field-of-view key is left as it is.
    """

    def __init__(self, keys: KeysCollection, fov_key: str = "fov") -> None:
        """Initialize a new ApplyFieldOfViewd.

        Args:
            keys: Keys to mask (``pred``, ``label``).
            fov_key: Key of the field-of-view mask (non-zero inside).
        """
        super().__init__(keys, allow_missing_keys=True)
        self.fov_key = fov_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Mask every key outside the field of view."""
        out = dict(data)
        if self.fov_key not in out:
            return out
        outside = torch.as_tensor(out[self.fov_key])[0] <= 0
        for key in self.key_iterator(out):
            value = out[key].clone()
            outside_here = outside.to(value.device)
            if value.shape[0] == 1:
                value[0][outside_here] = 0
            else:
                value[:, outside_here] = 0
                value[0][outside_here] = 1
            out[key] = value
        return out
