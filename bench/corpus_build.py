"""Time building every corpus of examples/corpora/build_all.sh from the real data.

    .venv/bin/python bench/corpus_build.py [--data ../shared/data] [--out runs/corpora]

Runs the script end to end (each ``vitp corpus build`` is its own process, so the time
includes interpreter start-up and imports, as a user would see it), then validates the
two mixtures and writes ``bench/results/corpus_build.json`` with the machine's CPU count,
the total wall time, and records / images / skipped inputs / in-process build seconds
per corpus. The brief's target is under 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _data_root(value: str | None) -> Path:
    root = Path(value or os.environ.get("VITP_DATA") or REPO.parent / "shared" / "data")
    if not root.is_dir():
        sys.exit(f"data root {root} not found: pass --data or set VITP_DATA.")
    return root.resolve()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", help="data root (default: $VITP_DATA, then ../shared/data)")
    parser.add_argument("--out", default=str(REPO / "runs" / "corpora"))
    parser.add_argument("--results", default=str(REPO / "bench" / "results" / "corpus_build.json"))
    args = parser.parse_args()
    data, out = _data_root(args.data), Path(args.out)
    vitp = Path(sys.executable).with_name("vitp")
    env = {**os.environ, "VITP": str(vitp) if vitp.exists() else "vitp"}
    start = time.perf_counter()
    subprocess.run(
        ["bash", str(REPO / "examples" / "corpora" / "build_all.sh"), str(data), str(out)],
        check=True,
        env=env,
    )
    total = time.perf_counter() - start
    corpora = {}
    for report_path in sorted(out.glob("*/build_report.json")):
        report = json.loads(report_path.read_text())
        corpora[report["name"]] = {
            "records": report["records"],
            "images": report["images"],
            "tasks": report["tasks"],
            "skipped": len(report["skipped"]),
            "skipped_reasons": report["skipped"][:5],
            "build_seconds_in_process": report["seconds"],
        }
    validation = {}
    for mixture in ("rs_mix.json", "med_mix.json"):
        run = subprocess.run(
            [str(env["VITP"]), "corpus", "validate", str(out / mixture)],
            capture_output=True,
            text=True,
        )
        validation[mixture] = (
            run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr.strip()
        )
    results = {
        "what": "wall time of examples/corpora/build_all.sh on the real data "
        "(all corpora + 2 mixtures)",
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "total_wall_seconds": round(total, 1),
        "target_seconds": 300,
        "within_target": total < 300,
        "note": "each corpus is a separate `vitp` process; start-up/imports are included. "
        "The LEVIR-CD samples (12 pairs) and Dubai (72 images) are too small for "
        "figures to mean much.",
        "corpora": corpora,
        "validation": validation,
    }
    # Record paths as $VITP_DATA/... and repository-relative, not as this machine's.
    text = json.dumps(results, indent=2) + "\n"
    text = text.replace(str(data.resolve()), "$VITP_DATA").replace(f"{REPO}/", "")
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(text)
    print(
        json.dumps(
            {k: results[k] for k in ("total_wall_seconds", "within_target", "validation")}, indent=2
        )
    )


if __name__ == "__main__":
    main()
