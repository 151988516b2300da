"""InternVL-style dynamic resolution: cut a large image into a grid of square tiles.

The grid (``cols`` x ``rows``, ``min_tiles <= cols * rows <= max_tiles``) whose aspect
ratio is closest to the image's is chosen, the image is resized to that grid and cut
into ``tile_size`` tiles; with more than one tile a thumbnail of the whole image is
appended, as InternVL's ``dynamic_preprocess`` does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["closest_grid", "dynamic_tiles", "resize_image"]


def resize_image(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize a ``(C, H, W)`` float image with antialiased bicubic interpolation."""
    if tuple(image.shape[-2:]) == (height, width):
        return image
    out = F.interpolate(
        image[None], size=(height, width), mode="bicubic", align_corners=False, antialias=True
    )
    return out[0]


def closest_grid(width: int, height: int, tile_size: int, min_tiles: int, max_tiles: int) -> tuple:
    """Return ``(cols, rows)`` of the grid whose aspect ratio best matches the image.

    Ties go to the larger grid when the image has enough pixels to fill it, as in InternVL.
    """
    aspect = width / height
    grids = sorted(
        {
            (i, j)
            for n in range(min_tiles, max_tiles + 1)
            for i in range(1, n + 1)
            for j in range(1, n + 1)
            if min_tiles <= i * j <= max_tiles
        },
        key=lambda g: g[0] * g[1],
    )
    best, best_diff = (1, 1), float("inf")
    area = width * height
    for cols, rows in grids:
        diff = abs(aspect - cols / rows)
        if diff < best_diff:
            best, best_diff = (cols, rows), diff
        elif diff == best_diff and area > 0.5 * tile_size * tile_size * cols * rows:
            best = (cols, rows)
    return best


def dynamic_tiles(
    image: torch.Tensor,
    tile_size: int,
    *,
    min_tiles: int = 1,
    max_tiles: int = 6,
    use_thumbnail: bool = True,
) -> torch.Tensor:
    """Cut an image into InternVL dynamic-resolution tiles.

    Args:
        image: ``(C, H, W)`` float image.
        tile_size: Side of a square tile in pixels.
        min_tiles: Fewest tiles of the grid.
        max_tiles: Most tiles of the grid (the thumbnail comes on top).
        use_thumbnail: Append a ``tile_size`` thumbnail when the grid has several tiles.

    Returns:
        ``(n, C, tile_size, tile_size)`` tiles, row-major, thumbnail last.
    """
    height, width = image.shape[-2:]
    cols, rows = closest_grid(width, height, tile_size, min_tiles, max_tiles)
    resized = resize_image(image, rows * tile_size, cols * tile_size)
    tiles = (
        resized.unfold(1, tile_size, tile_size)
        .unfold(2, tile_size, tile_size)
        .permute(1, 2, 0, 3, 4)
        .reshape(rows * cols, image.shape[0], tile_size, tile_size)
    )
    if use_thumbnail and rows * cols > 1:
        tiles = torch.cat([tiles, resize_image(image, tile_size, tile_size)[None]])
    return tiles
