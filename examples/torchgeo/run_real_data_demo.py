"""Run the TorchGeo example YAMLs on the real data, CPU-sized, and save the test metrics.

For each example this runs the literal commands a user would::

    torchgeo fit  --config examples/torchgeo/<name>.yaml <overrides>
    torchgeo test --config examples/torchgeo/<name>.yaml <overrides> --ckpt_path <best>

then reads the test metrics from the CSV logger and writes
``bench/results/torchgeo_<name>.json``. The backbone is ``runs/torchgeo/backbone.safetensors``
(see make_demo_export.py: a random initialisation unless copied from a pretraining run),
so the figures measure the pipeline, not ViTP pretraining.

    VITP_DATA=../shared/data python examples/torchgeo/run_real_data_demo.py [names...]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "torchgeo"
EXPORT = REPO / "runs" / "torchgeo" / "backbone.safetensors"

#: name -> (YAML, CPU-sized overrides, note about the data).
DEMOS: dict[str, tuple[str, list[str], str]] = {
    "rsscn7": (
        "rsscn7_vitp.yaml",
        ["--trainer.max_epochs", "4"],
        "RSSCN7 test split, 1,400 scenes at 128 px.",
    ),
    "dubai": (
        "dubai_vitp.yaml",
        ["--trainer.max_epochs", "3", "--trainer.limit_train_batches", "40"],
        "Dubai tiles 6 and 8, 256 px windows; 72 images in all: too small for a benchmark.",
    ),
    "levircd_samples": (
        "levircd_samples_vitp.yaml",
        ["--trainer.max_epochs", "15"],
        "7 LEVIR-CD test pairs at 256 px after training on 3: a smoke test, not a benchmark.",
    ),
}


def _torchgeo(*args: str) -> None:
    command = [str(Path(sys.executable).with_name("torchgeo")), *args]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, cwd=REPO, check=True)


def _test_metrics(log_dir: Path) -> dict[str, float]:
    """Test metrics from the newest CSV-logger version under ``log_dir``."""
    versions = sorted(log_dir.glob("lightning_logs/version_*"), key=lambda p: p.stat().st_mtime)
    with open(versions[-1] / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {k: float(v) for row in rows for k, v in row.items() if k.startswith("test_") and v}


def run(name: str) -> dict[str, object]:
    """Fit and test one example; return the result record."""
    config, overrides, note = DEMOS[name]
    out_dir = REPO / "runs" / "torchgeo" / name
    for stale in out_dir.glob("*.ckpt"):
        stale.unlink()
    args = ["--config", str(EXAMPLES / config), *overrides]
    start = time.perf_counter()
    _torchgeo("fit", *args)
    fit_s = time.perf_counter() - start
    (best,) = [p for p in out_dir.glob("*.ckpt") if p.name != "last.ckpt"]
    _torchgeo("test", *args, "--ckpt_path", str(best))
    sidecar = json.loads(EXPORT.with_suffix(".json").read_text())
    return {
        "example": f"examples/torchgeo/{config}",
        "overrides": overrides,
        "checkpoint": best.name,
        "test_metrics": _test_metrics(out_dir),
        "data": note,
        "backbone": {k: sidecar[k] for k in ("model", "model_kwargs", "corpus", "steps")},
        "fit_wall_s": round(fit_s, 1),
        "device": "cpu (2 shared cores)",
        "caveat": "backbone weights are those of the export named above; with a random "
        "initialisation the figures measure the pipeline, not ViTP pretraining.",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"examples to run (default: all of {list(DEMOS)})")
    args = parser.parse_args()
    unknown = set(args.names) - set(DEMOS)
    if unknown:
        parser.error(f"unknown examples {sorted(unknown)}; choose from {list(DEMOS)}")
    if not os.environ.get("VITP_DATA"):
        sys.exit("Set VITP_DATA to the shared data folder (e.g. ../shared/data).")
    if not EXPORT.exists():
        sys.exit(f"{EXPORT} missing: run examples/torchgeo/make_demo_export.py first.")
    for name in args.names or DEMOS:
        record = run(name)
        target = REPO / "bench" / "results" / f"torchgeo_{name}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(record, indent=2) + "\n")
        print(json.dumps(record["test_metrics"], indent=2))


if __name__ == "__main__":
    main()
