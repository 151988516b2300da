"""The corruption drill, reduced: a 16-record slice of the real RSSCN7 corpus broken in
ten ways; validate and a 3-step pretraining name all ten and the export is finite."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from corruption_drill import CORRUPTIONS, in_process_runner, run_drill


def test_reduced_corruption_drill(vitp_data: Path, tmp_path: Path) -> None:
    result = run_drill(vitp_data, tmp_path / "drill", records=16, runner=in_process_runner)
    rows = {row["corruption"]: row for row in result["corruptions"]}
    assert list(rows) == list(CORRUPTIONS)
    missed = [k for k, r in rows.items() if not (r["validate_names_it"] and r["pretrain_names_it"])]
    assert not missed, result
    assert result["validate"]["exit"] == 1 and result["pretrain"]["exit"] == 0
    assert result["pretrain"]["bad_records"] == 10 and result["pretrain"]["export"]["finite"]
    assert "outside the corpus root" in rows["outside-root path"]["reason"]
    assert "non-finite" in rows["non-finite pixels"]["reason"]
    assert result["passed"]
