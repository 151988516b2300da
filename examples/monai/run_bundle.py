"""Create a vitp_monai bundle, train and evaluate it with MONAI's bundle CLI, save the figures.

Runs ``vitp monai-bundle init`` (Python API), then
``python -m monai.bundle run --config_file configs/train.json ...`` and
``... configs/evaluate.json ...`` (segmentation: Dice of held-out labelled volumes) or
``... configs/inference.json ...`` (classification: AUC of the test split) as
subprocesses, exactly as a user would, and writes the metrics to
``bench/results/monai_<name>.json``.

Examples (short CPU runs; the data root comes from --data or $VITP_DATA)::

    python examples/monai/run_bundle.py hippocampus --epochs 6
    python examples/monai/run_bundle.py pneumoniamnist --epochs 3
    python examples/monai/run_bundle.py adrenalmnist3d --epochs 3

Without --weights the bundle starts from a randomly initialised ViTP-tiny export (this
machine has no pretrained ViTP weights), so the figures measure the pipeline, not ViTP
pretraining.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from vitp_core.atomic_io import atomic_write_json
from vitp_core.backbone import create_backbone
from vitp_core.export import BackboneMetadata, export_backbone
from vitp_monai.bundles import init_bundle

REPO = Path(__file__).resolve().parents[2]


def _relative_to_repo(path: Path) -> str:
    """A path as recorded in the results JSON: relative to the repository when inside it."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)


#: name -> (task, dataset subfolder, init_bundle kwargs, run overrides)
EXPERIMENTS: dict[str, tuple[str, str, dict, list[str]]] = {
    "hippocampus": (
        "segmentation",
        "med/hippocampus",
        {
            "roi_size": [32, 48, 32],
            "num_classes": 3,
            "modality": "MR",
            "class_names": ["background", "anterior", "posterior"],
        },
        ["--feature_size", "8", "--batch_size", "2", "--num_samples", "2"],
    ),
    "pneumoniamnist": (
        "classification",
        "med/medmnist",
        {
            "roi_size": [32, 32],
            "num_classes": 2,
            "modality": "XR",
            "class_names": ["normal", "pneumonia"],
            "patch_size": 8,
        },
        ["--dataset_file", "pneumoniamnist.npz", "--batch_size", "64"],
    ),
    "adrenalmnist3d": (
        "classification",
        "med/medmnist",
        {
            "roi_size": [32, 32, 32],
            "num_classes": 2,
            "modality": "CT",
            "class_names": ["normal", "adrenal mass"],
            "patch_size": 8,
        },
        ["--dataset_file", "adrenalmnist3d.npz", "--batch_size", "32"],
    ),
}


def random_export(folder: Path) -> Path:
    """Export a randomly initialised ViTP-tiny backbone (seeded) as a stand-in for ViTP weights."""
    import torch

    torch.manual_seed(0)
    vit = create_backbone("vitp_tiny_patch16_224", img_size=224)
    meta = BackboneMetadata(
        model="vitp_tiny_patch16_224",
        img_size=(224, 224),
        patch_size=16,
        in_chans=3,
        embed_dim=192,
        extra={"note": "random initialisation, no pretraining"},
    )
    return export_backbone(vit, folder / "backbone.safetensors", meta)


def run_monai(bundle: Path, config: str, overrides: list[str], log: Path) -> str:
    """Run ``python -m monai.bundle run`` in the bundle folder; return its stdout."""
    cmd = [
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        f"configs/{config}",
        *overrides,
    ]
    print("$", " ".join(cmd), flush=True)
    with open(log, "w", encoding="utf-8") as handle:  # streamed, so progress can be followed
        proc = subprocess.run(cmd, cwd=bundle, stdout=handle, stderr=subprocess.STDOUT, check=False)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}); see {log}")
    return log.read_text(encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", choices=sorted(EXPERIMENTS))
    parser.add_argument(
        "--data", default=os.environ.get("VITP_DATA", str(REPO.parent / "shared/data"))
    )
    parser.add_argument("--weights", help="ViTP export to start from (default: random tiny).")
    parser.add_argument("--out", default=str(REPO / "runs" / "monai"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-train", type=int, default=0, help="Cap on training cases/items.")
    parser.add_argument("--max-val", type=int, default=0, help="Cap on validation cases/items.")
    parser.add_argument("--max-test", type=int, default=0, help="Cap on inference cases/items.")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Extra bundle override, e.g. --set learning_rate=0.0003 (repeatable).",
    )
    args = parser.parse_args()

    task, subdir, init_kwargs, overrides = EXPERIMENTS[args.experiment]
    dataset_dir = Path(args.data) / subdir
    if not dataset_dir.exists():
        raise SystemExit(f"{dataset_dir} not found: pass --data or set VITP_DATA.")
    out = Path(args.out) / args.experiment
    weights = Path(args.weights) if args.weights else random_export(out.parent / "random_export")
    bundle = init_bundle(out, task=task, weights=weights, overwrite=True, **init_kwargs)
    extra = [
        part for item in args.set for part in (f"--{item.split('=', 1)[0]}", item.split("=", 1)[1])
    ]
    common = ["--dataset_dir", str(dataset_dir), *overrides, *extra]
    if task == "segmentation":
        train_caps = [
            "--max_train_cases",
            str(args.max_train),
            "--max_val_cases",
            str(args.max_val),
        ]
        test_caps = ["--max_cases", str(args.max_test)]
    else:
        train_caps = [
            "--max_train_items",
            str(args.max_train),
            "--max_val_items",
            str(args.max_val),
        ]
        test_caps = ["--max_items", str(args.max_test)]
    start = time.time()
    train_out = run_monai(
        bundle,
        "train.json",
        [*common, *train_caps, "--max_epochs", str(args.epochs)],
        out / "train.log",
    )
    train_s = time.time() - start
    # Train-only overrides (e.g. num_samples) just add unused keys to the other configs.
    scored = "evaluate.json" if task == "segmentation" else "inference.json"
    infer_out = run_monai(bundle, scored, [*common, *test_caps], out / "inference.log")
    train_summary = _summary_line(train_out, "best validation")
    infer_summary = _summary_line(
        infer_out, "mean Dice over" if task == "segmentation" else " items: AUC"
    )
    print(train_summary)
    print(infer_summary)
    result = {
        "experiment": args.experiment,
        "task": task,
        "bundle": _relative_to_repo(bundle),
        "weights": _relative_to_repo(weights),
        "pretrained": bool(args.weights),
        "epochs": args.epochs,
        "caps": {"train": args.max_train, "val": args.max_val, "test": args.max_test},
        "train_seconds": round(train_s, 1),
        "train_summary": train_summary,
        "inference_summary": infer_summary,
        "metrics": _metrics(task, bundle, infer_out),
        "command": f"python -m monai.bundle run --config_file configs/{{train,{scored[:-5]}}}.json "
        + " ".join(common),
    }
    target = REPO / "bench" / "results" / f"monai_{args.experiment}.json"
    atomic_write_json(target, result)
    print(f"wrote {target}")
    return 0


def _summary_line(output: str, marker: str) -> str:
    """The last line of a run's output that contains ``marker`` (the bundle's printed result)."""
    lines = [line for line in output.splitlines() if marker in line]
    if not lines:
        raise RuntimeError(f"No line with {marker!r} in the bundle output.")
    return lines[-1]


def _metrics(task: str, bundle: Path, infer_out: str) -> dict[str, float]:
    if task == "segmentation":
        with open(bundle / "eval" / "mean_dice_summary.csv", encoding="utf-8") as handle:
            rows = {row["class"]: row for row in csv.DictReader(handle)}
        return {
            "mean_dice": float(rows["mean"]["mean"]),
            "dice_anterior": float(rows["class0"]["mean"]),
            "dice_posterior": float(rows["class1"]["mean"]),
            "num_cases": int(float(rows["mean"]["notnans"])),
        }
    match = re.search(r"(\d+) items: AUC ([0-9.]+), accuracy ([0-9.]+)", infer_out)
    if match is None:
        raise RuntimeError(f"No AUC/accuracy line in the inference output:\n{infer_out}")
    return {"test_items": int(match[1]), "auc": float(match[2]), "accuracy": float(match[3])}


if __name__ == "__main__":
    sys.exit(main())
