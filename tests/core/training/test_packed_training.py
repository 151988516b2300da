"""`vitp pretrain --model.pack_sequences true`: a packed run trains, measures and exports."""

import json
from pathlib import Path

from tiny_runs import pretrain_subprocess


def test_a_packed_run_trains_measures_reliance_and_exports(
    tmp_path: Path, tiny_corpus: Path
) -> None:
    run = tmp_path / "run"
    result = pretrain_subprocess(
        run, tiny_corpus, "--trainer.max_steps", "2", "--model.pack_sequences", "true"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run / "run_summary.json").read_text())
    assert summary["trained_steps"] == 2 and summary["final_loss"] > 0
    assert summary["image_reliance"]["records"] == 2  # answer_nll ran on packed rows
    assert (run / "backbone.safetensors").is_file()
