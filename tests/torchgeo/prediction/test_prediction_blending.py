"""Window plans and blending, without a model: coverage, strips and exact normalisation."""

import numpy as np
import pytest

from vitp_torchgeo.datasets.windows import WindowPlan, blend_weights, window_starts
from vitp_torchgeo.prediction.blender import StripBlender


def test_window_starts_cover_and_stay_inside() -> None:
    assert window_starts(100, 32, 16) == [0, 16, 32, 48, 64, 68]
    assert window_starts(20, 32, 16) == [0]
    assert window_starts(100, 32, 32, shift_last=False) == [0, 32, 64, 96]


def test_blend_weights_taper_and_partition_of_unity() -> None:
    weights = blend_weights(32)
    assert weights.shape == (32, 32) and weights.min() > 0
    assert weights[16, 16] > 0.99 and weights[0, 0] < 0.01
    ramp = np.sqrt(np.diag(weights))
    np.testing.assert_allclose(ramp[:16] + ramp[16:], 1.0, atol=1e-3)  # 50 % overlap


@pytest.mark.parametrize(
    ("height", "width", "strip"), [(70, 90, 4096), (70, 300, 64), (20, 25, 64)]
)
def test_blend_of_consistent_windows_is_exact(height: int, width: int, strip: int) -> None:
    """Windows that agree on every pixel blend to exactly that value: no seam, no offset."""
    plan = WindowPlan.from_overlap(height, width, 32, 0.5, strip_width=strip, block=32)
    rows, cols = np.mgrid[0:height, 0:width]
    truth = np.stack([np.sin(rows / 7.0) * np.cos(cols / 5.0), rows * 1000.0 + cols])
    valid_truth = ~((rows > 40) & (cols < 10))
    out = np.full_like(truth, np.nan)
    seen = np.zeros((height, width), dtype=int)
    out_valid = np.zeros((height, width), dtype=bool)

    def emit(probs: np.ndarray, valid: np.ndarray, row: int, col: int) -> None:
        rows_, cols_ = probs.shape[1:]
        out[:, row : row + rows_, col : col + cols_] = probs
        out_valid[row : row + rows_, col : col + cols_] = valid
        seen[row : row + rows_, col : col + cols_] += 1
        assert row % 32 == 0 or row + rows_ == height  # whole blocks, except the last rows

    blender = StripBlender(plan, 2, emit)
    padded = np.pad(truth, ((0, 0), (0, 32), (0, 32)))
    padded_valid = np.pad(valid_truth, ((0, 32), (0, 32)))
    for window in plan:
        rs, cs = slice(window.row, window.row + 32), slice(window.col, window.col + 32)
        blender.add(window, padded[:, rs, cs], padded_valid[rs, cs])
    blender.finish()
    assert (seen == 1).all()  # every pixel written exactly once
    np.testing.assert_array_equal(out_valid, valid_truth)
    np.testing.assert_allclose(out[:, valid_truth], truth[:, valid_truth], rtol=1e-6, atol=1e-4)


def test_strips_bound_memory_and_repeat_few_windows() -> None:
    small = WindowPlan.from_overlap(2048, 2048, 256, 0.5, strip_width=2048)
    large = WindowPlan.from_overlap(16384, 16384, 256, 0.5, strip_width=2048)
    assert len(small.strips) == 1 and len(large.strips) == 8
    assert small.band_rows == large.band_rows  # the blender's buffers do not grow
    assert large.duplicate_share() < 0.07
