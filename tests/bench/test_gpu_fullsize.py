"""bench/gpu_fullsize.py runs end to end on CPU with --tiny (every mode, JSON written)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import gpu_fullsize


def test_tiny_runs_every_mode_and_packing_removes_padding(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "gpu.json"
    assert gpu_fullsize.main(["--tiny", "--steps", "1", "--warmup", "0", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    modes = {r["mode"]: r for r in result["results"]}
    assert list(modes) == list(gpu_fullsize.MODES)
    assert all(math.isfinite(r["loss"]) and r["step_s_min"] > 0 for r in modes.values())
    assert modes["late"]["lm_padding"] > 0.1  # samples of different length, padded
    assert modes["packed"]["lm_padding"] < modes["late"]["lm_padding"]
    assert 0 <= modes["padded_b1"]["lm_padding"] < 1
    assert "| packed |" in capsys.readouterr().out
