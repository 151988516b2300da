"""`vitp pretrain --model.pack_sequences true`: a packed run trains, measures and exports."""

import json
import subprocess
import sys
from pathlib import Path

from tiny_data import TINY_PRETRAIN_ARGS


def test_a_packed_run_trains_measures_reliance_and_exports(
    tmp_path: Path, tiny_corpus: Path
) -> None:
    run = tmp_path / "run"
    cmd = [
        *(sys.executable, "-m", "vitp_core.cli", "pretrain"),
        *("--run_dir", str(run), "--data.corpus", str(tiny_corpus)),
        *TINY_PRETRAIN_ARGS,
        *("--trainer.max_steps", "2", "--model.pack_sequences", "true"),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run / "run_summary.json").read_text())
    assert summary["trained_steps"] == 2 and summary["final_loss"] > 0
    assert summary["image_reliance"]["records"] == 2  # answer_nll ran on packed rows
    assert (run / "backbone.safetensors").is_file()
