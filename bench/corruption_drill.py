"""Corruption drill: a real corpus broken in ten ways; validate and a short pretraining.

    .venv/bin/python bench/corruption_drill.py [--data ../shared/data] [--records 40]

1. Builds an RSSCN7 corpus from the real data with the project's builder (train split,
   every k-th image, so every class is in the slice), then copies the slice -- records
   and images -- into a drill folder: the data folder is only read.
2. Breaks one record in each of ten ways: missing image, truncated image, zero-byte
   image, a text file named .jpg, a line of bad JSON, two ``<image>`` tags for one image,
   an empty conversation, a decompression bomb (a PNG declaring 400 megapixels in a few
   hundred bytes), a path outside the corpus root (``../outside.jpg``, a real, readable
   image) and a float GeoTIFF with NaN pixels.
3. Runs ``vitp corpus validate`` and ``vitp pretrain`` (tiny model, one epoch and a bit,
   ``on_bad_record: skip``, no held-out records, so every record is loaded) on the copy.

The drill passes when validate names all ten by file:line, the run finishes (exit 0),
its ``bad_records.jsonl`` names all ten by file:line, and its export loads (checksum
verified) with finite weights. It prints a table and writes
``bench/results/corruption_drill.json``. ``--in-process`` runs the two commands through
``vitp_core.cli.main`` in this process (what the test does), else each is its own
process, as a user runs them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]

#: The ten corruptions, in the order they are applied to records 1..10 of the slice.
CORRUPTIONS = (
    "missing image",
    "truncated image",
    "zero-byte image",
    "not an image",
    "bad JSON line",
    "wrong <image> count",
    "empty conversation",
    "decompression bomb",
    "outside-root path",
    "non-finite pixels",
)

#: Tiny model and run settings of the short pretraining.
TINY_RUN = [
    "--model.vit_kwargs",
    '{"depth": 2, "embed_dim": 32, "num_heads": 2}',
    "--model.img_size",
    "32",
    "--model.lm_config",
    '{"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,'
    ' "num_key_value_heads": 1, "intermediate_size": 64}',
    "--data.batch_size",
    "8",
    "--data.reliance_records",
    "0",
    "--data.on_bad_record",
    "skip",
    "--trainer.enable_progress_bar",
    "false",
    "--checkpoint.every_n_train_steps",
    "2",
]

CliRunner = Callable[[list[str]], tuple[int, str, str]]


def _data_root(value: str | None) -> Path:
    root = Path(value or os.environ.get("VITP_DATA") or REPO.parent / "shared" / "data")
    if not (root / "rs" / "rsscn7" / "labels.jsonl").is_file():
        raise SystemExit(f"RSSCN7 not found under {root}: pass --data or set VITP_DATA.")
    return root.resolve()


def build_slice(data: Path, work: Path, records: int) -> Path:
    """Build RSSCN7 with the project's builder and copy ``records`` of it (with images).

    Returns:
        The copied corpus ``work/corpus/corpus.jsonl`` (images under ``work/corpus/images``).
    """
    from vitp_core.corpus.builders.classification import (
        build_classification_corpus,
        images_from_label_file,
    )

    rsscn7 = data / "rs" / "rsscn7"
    items, problems = images_from_label_file(rsscn7 / "labels.jsonl")
    train = [item for item in items if getattr(item, "split", "train") != "test"]
    step = max(len(train) // records, 1)
    chosen = train[::step][:records]
    built = work / "built"
    build_classification_corpus(
        chosen,
        built,
        name="rsscn7",
        exclude_splits=("test",),
        problems=problems,
        data_roots=[rsscn7, data],
    )
    corpus_dir = work / "corpus"
    (corpus_dir / "images").mkdir(parents=True)
    lines = []
    for number, line in enumerate((built / "corpus.jsonl").read_text().splitlines()):
        record = json.loads(line)
        source = Path(record["image"])
        copy = corpus_dir / "images" / f"{number:03d}{source.suffix}"
        shutil.copyfile(source, copy)
        record["image"] = f"images/{copy.name}"
        lines.append(json.dumps(record))
    corpus = corpus_dir / "corpus.jsonl"
    corpus.write_text("\n".join(lines) + "\n")
    return corpus


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_bomb(path: Path, side: int = 20_000) -> None:
    """A 1-bit PNG declaring ``side`` x ``side`` pixels that holds only 64 rows."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    rows = zlib.compress((b"\x00" * (1 + (side + 7) // 8)) * 64, 9)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", rows)
        + _png_chunk(b"IEND", b"")
    )


def _nan_geotiff(path: Path, side: int = 64) -> None:
    import rasterio

    values = np.random.default_rng(0).uniform(0, 1, (3, side, side)).astype(np.float32)
    values[:, :4, :4] = np.nan  # 48 NaN values
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=side,
        height=side,
        count=3,
        dtype="float32",
        crs="EPSG:32633",
        transform=rasterio.transform.from_origin(0, 0, 10, 10),
    ) as dst:
        dst.write(values)


def corrupt(corpus: Path) -> dict[str, int]:
    """Break records 1..10 (one way each); return corruption -> line number (1-based)."""
    folder = corpus.parent
    lines = corpus.read_text().splitlines()
    if len(lines) < len(CORRUPTIONS) + 4:
        raise ValueError(f"{corpus}: too few records for the drill ({len(lines)}).")
    records = [json.loads(line) for line in lines]
    where: dict[str, int] = {}
    for index, kind in enumerate(CORRUPTIONS, start=1):
        record, image = records[index], folder / records[index]["image"]
        where[kind] = index + 1
        if kind == "missing image":
            image.unlink()
        elif kind == "truncated image":
            image.write_bytes(image.read_bytes()[: image.stat().st_size // 3])
        elif kind == "zero-byte image":
            image.write_bytes(b"")
        elif kind == "not an image":
            image.write_text("this is a text file, not a JPEG\n")
        elif kind == "bad JSON line":
            lines[index] = lines[index][: len(lines[index]) // 2]
            continue
        elif kind == "wrong <image> count":
            turn = record["conversations"][0]
            turn["value"] = "<image>\n" + turn["value"]
        elif kind == "empty conversation":
            record["conversations"] = []
        elif kind == "decompression bomb":
            _png_bomb(folder / "images" / "bomb.png")
            record["image"] = "images/bomb.png"
        elif kind == "outside-root path":
            shutil.copyfile(image, folder.parent / "outside.jpg")  # real and readable
            record["image"] = "../outside.jpg"
        elif kind == "non-finite pixels":
            _nan_geotiff(folder / "images" / "nan.tif")
            record["image"] = "images/nan.tif"
        lines[index] = json.dumps(record)
    corpus.write_text("\n".join(lines) + "\n")
    return where


def subprocess_runner(args: list[str]) -> tuple[int, str, str]:
    """Run ``vitp ARGS`` as its own process."""
    result = subprocess.run(
        [sys.executable, "-m", "vitp_core.cli", *args], capture_output=True, text=True
    )
    return result.returncode, result.stdout, result.stderr


def in_process_runner(args: list[str]) -> tuple[int, str, str]:
    """Run ``vitp ARGS`` through :func:`vitp_core.cli.main` in this process."""
    from vitp_core.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as stop:
            code = int(stop.code or 0)
    return code, out.getvalue(), err.getvalue()


def _named(text: str, corpus: Path, line: int) -> bool:
    return f"{corpus}:{line}:" in text


def _export_finite(run: Path) -> dict[str, Any]:
    import torch

    from vitp_core.export import load_backbone

    vit = load_backbone(run / "backbone.safetensors")  # checks its SHA-256 and finiteness
    finite = all(bool(torch.isfinite(v).all()) for v in vit.state_dict().values())
    return {"loads": True, "finite": finite, "tensors": len(vit.state_dict())}


def run_drill(
    data: Path, work: Path, records: int = 40, runner: CliRunner = subprocess_runner
) -> dict[str, Any]:
    """Build, corrupt, validate and pretrain; return the outcome per corruption."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    corpus = build_slice(data, work, records)
    where = corrupt(corpus)
    n_records = len(corpus.read_text().splitlines())
    start = time.perf_counter()
    code, out, err = runner(["corpus", "validate", str(corpus)])
    validate = {"exit": code, "seconds": round(time.perf_counter() - start, 2)}
    report = out + err
    batch = 8
    steps = -(-n_records // batch) + 1  # one epoch and a bit: every record is loaded
    run = work / "run"
    start = time.perf_counter()
    code, out, err = runner(
        [
            "pretrain",
            "--run_dir",
            str(run),
            "--data.corpus",
            str(corpus),
            *TINY_RUN,
            "--trainer.max_steps",
            str(steps),
        ]
    )
    pretrain: dict[str, Any] = {
        "exit": code,
        "steps": steps,
        "seconds": round(time.perf_counter() - start, 2),
        "error": err.strip().splitlines()[-1] if code else None,
    }
    bad = (run / "bad_records.jsonl").read_text() if (run / "bad_records.jsonl").is_file() else ""
    if code == 0:
        summary = json.loads((run / "run_summary.json").read_text())
        pretrain.update(
            bad_records=summary["bad_records"],
            trained_steps=summary.get("trained_steps"),
            final_loss=summary["final_loss"],
            export=_export_finite(run),
        )
    rows = []
    for kind, line in where.items():
        reasons = [
            json.loads(x)["reason"]
            for x in bad.splitlines()
            if json.loads(x)["source"] == f"{corpus}:{line}"
        ]
        rows.append(
            {
                "corruption": kind,
                "line": line,
                "validate_names_it": _named(report, corpus, line),
                "pretrain_names_it": bool(reasons),
                "reason": reasons[0] if reasons else _reason_in(report, corpus, line),
            }
        )
    passed = (
        all(r["validate_names_it"] and r["pretrain_names_it"] for r in rows)
        and pretrain["exit"] == 0
        and pretrain.get("export", {}).get("finite", False)
    )
    return {
        "corpus": str(corpus),
        "records": n_records,
        "validate": validate,
        "pretrain": pretrain,
        "corruptions": rows,
        "passed": passed,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }


def _reason_in(report: str, corpus: Path, line: int) -> str:
    for text in report.splitlines():
        if f"{corpus}:{line}:" in text:
            return text.split(f"{corpus}:{line}:", 1)[1].strip()
    return ""


def print_table(result: dict[str, Any]) -> None:
    """The drill's outcome as a Markdown table."""
    print(f"\ncorpus: {result['corpus']} ({result['records']} records)")
    print("| corruption | line | validate | pretrain | reason |")
    print("|---|---|---|---|---|")
    for row in result["corruptions"]:
        v = "named" if row["validate_names_it"] else "MISSED"
        p = "named" if row["pretrain_names_it"] else "MISSED"
        reason = row["reason"].replace(str(Path(result["corpus"]).parent) + "/", "")
        print(f"| {row['corruption']} | {row['line']} | {v} | {p} | {reason[:100]} |")
    run = result["pretrain"]
    export = run.get("export", {})
    print(
        f"\nvalidate exit {result['validate']['exit']} ({result['validate']['seconds']} s); "
        f"pretrain exit {run['exit']} after {run['steps']} steps ({run['seconds']} s), "
        f"{run.get('bad_records')} bad records, export loads: {export.get('loads', False)}, "
        f"finite: {export.get('finite', False)}"
    )
    print("DRILL PASSED" if result["passed"] else "DRILL FAILED")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", help="data root (default: $VITP_DATA, then ../shared/data)")
    parser.add_argument("--work", default=str(REPO / "runs" / "corruption_drill"))
    parser.add_argument("--records", type=int, default=40, help="records in the slice")
    parser.add_argument("--in-process", action="store_true", help="run the CLI in this process")
    parser.add_argument(
        "--results", default=str(REPO / "bench" / "results" / "corruption_drill.json")
    )
    args = parser.parse_args()
    runner = in_process_runner if args.in_process else subprocess_runner
    result = run_drill(_data_root(args.data), Path(args.work), args.records, runner)
    print_table(result)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.results}")
    sys.exit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
