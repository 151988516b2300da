"""Random JPEG re-encoding, the ``data_augment`` of InternVL's and ViTP's mixtures.

For a source marked ``"data_augment": true``, InternVL's ``build_transform(is_train=True)``
re-encodes every image it feeds the ViT (each tile and the thumbnail with dynamic
tiling, the whole image before its resize without) as JPEG at a quality drawn uniformly
from 75 to 100, with Pillow. :func:`random_jpeg` does the same to a ``(C, H, W)`` image
in 0-1: quantise to 8 bits, save as JPEG with Pillow's defaults at that quality, decode.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

__all__ = ["JPEG_QUALITIES", "check_jpeg_compatible", "jpeg_reencode", "random_jpeg"]

#: The qualities InternVL draws from (75 to 100 inclusive, uniformly).
JPEG_QUALITIES = range(75, 101)
_MODES = {1: "L", 3: "RGB"}


def check_jpeg_compatible(image: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``image`` is a 1- or 3-band image scaled to 0-1.

    Args:
        image: ``(C, H, W)`` image as loaded (before any resize).
    """
    if image.shape[0] not in _MODES:
        raise ValueError(f"JPEG holds 1 or 3 bands, the image has {image.shape[0]}")
    low, high = float(image.min()), float(image.max())
    if low < 0 or high > 1:
        raise ValueError(
            f"JPEG holds 8-bit pixels; the image spans {low:.4g} to {high:.4g}, not 0-1"
        )


def jpeg_reencode(image: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode and decode an image as JPEG.

    Args:
        image: ``(C, H, W)`` float image with 1 (grey) or 3 (RGB) bands, 0-1 scaled;
            values are clamped to 0-1 and quantised to 8 bits, as Pillow images are.
        quality: JPEG quality, 1-100.

    Returns:
        The decoded image, same shape, float32 in 0-1 (multiples of 1/255).

    Raises:
        ValueError: For other band counts (JPEG holds 8-bit grey or RGB only).
    """
    bands = image.shape[0]
    if bands not in _MODES:
        raise ValueError(f"JPEG holds 1 or 3 bands, the image has {bands}.")
    pixels = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    array = pixels.permute(1, 2, 0).cpu().numpy()
    picture = Image.fromarray(array[..., 0] if bands == 1 else array)  # "L" or "RGB"
    with io.BytesIO() as buffer:
        picture.save(buffer, format="JPEG", quality=int(quality))
        buffer.seek(0)
        decoded = np.asarray(Image.open(buffer).convert(_MODES[bands]))
    out = torch.from_numpy(decoded.copy()).float().div_(255)
    return out[None] if bands == 1 else out.permute(2, 0, 1)


def random_jpeg(image: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Re-encode ``image`` as JPEG at a quality drawn uniformly from 75-100.

    Args:
        image: See :func:`jpeg_reencode`.
        generator: Random source; default torch's global one (seeded per data-loader
            worker by PyTorch).

    Returns:
        The decoded image.
    """
    index = int(torch.randint(len(JPEG_QUALITIES), (1,), generator=generator))
    return jpeg_reencode(image, JPEG_QUALITIES[index])
