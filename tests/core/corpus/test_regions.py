from collections import deque

import numpy as np

from vitp_core.corpus.regions import class_regions, connected_boxes


def _flood_fill_regions(binary: np.ndarray, diagonal: bool) -> list[tuple]:
    height, width = binary.shape
    seen = np.zeros_like(binary, dtype=bool)
    steps = [
        (dy, dx)
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if (dy or dx) and (diagonal or not (dy and dx))
    ]
    found = []
    for y, x in zip(*np.nonzero(binary), strict=True):
        if seen[y, x]:
            continue
        queue, ys, xs = deque([(y, x)]), [], []
        seen[y, x] = True
        while queue:
            cy, cx = queue.popleft()
            ys.append(cy)
            xs.append(cx)
            for dy, dx in steps:
                ny, nx = cy + dy, cx + dx
                if 0 <= ny < height and 0 <= nx < width and binary[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
        found.append((min(xs), min(ys), max(xs) + 1, max(ys) + 1, len(ys)))
    return sorted(found)


def test_connected_boxes_match_flood_fill() -> None:
    rng = np.random.default_rng(0)
    for _ in range(60):
        binary = rng.random(tuple(rng.integers(1, 24, 2))) < rng.random()
        for diagonal in (True, False):
            boxes, areas = connected_boxes(binary, diagonal)
            got = sorted((*b, a) for b, a in zip(boxes.tolist(), areas.tolist(), strict=True))
            assert got == _flood_fill_regions(binary, diagonal)
            assert list(areas) == sorted(areas, reverse=True)


def test_class_regions_scale_boxes_back_when_subsampled() -> None:
    mask = np.zeros((1000, 800), dtype=np.int32)
    mask[100:300, 400:600] = 2
    mask[700:900, 0:100] = 1
    regions = class_regions(mask, labels=[1, 2], max_side=100)
    assert [r.label for r in regions] == [2, 1]
    assert regions[0].box == (400, 100, 600, 300)
    assert regions[1].box == (0, 700, 100, 900)
    assert abs(regions[0].area - 200 * 200) <= 200 * 200 * 0.05
