"""Corpus scale: memory, time to first batch and loader speed of streamed shards, 10k to 1M records.

    .venv/bin/python bench/corpus_scale.py [--sizes 10000 100000 1000000] [--workers 2]
        [--optimize-workers 2]

For each size, a synthetic corpus is generated (records of a short classification
question about one of a few small generated PNGs, reused by every record, so that the
corpus is made fast and the images are not what is measured), written as LitData shards
with ``vitp corpus optimize --workers N`` (timed; ``--optimize-workers``) and loaded in a
fresh process as training loads it: ``InstructionDataModule(corpus=SHARDS,
num_workers=2)`` with the tiny model's processor, ``setup()`` (manifest, bad records,
held-out and validation split, probe) and the training loader. Measured in that process:

* ``first_batch_s``: from ``setup()`` to the first training batch in hand (``setup_s``:
  the part spent in ``setup()``);
* ``records_per_s``: training records loaded per second after the first batch (tokenised,
  images decoded and tiled, collated), over ``--batches`` batches;
* peak RSS: the training process plus its loader workers (``/proc``, sampled every 20 ms),
  as a sum of RSS (shared pages counted once per process) and of PSS (shared pages split);
  also the main process alone and its RSS before the corpus was opened (imports and model).

Targets (issue 16): peak RSS of the 1M corpus within 1.2x that of the 10k corpus
(``peak_rss_ratio_1m_vs_10k``, process + workers), first batch under 10 s at 1M
(``first_batch_s_1m``). Sizes that were not run are ``null`` in the targets. Prints a table
and writes ``bench/results/corpus_scale.json``. Timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from proc_memory import proc_bytes

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "results" / "corpus_scale.json"
COLOURS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}
#: The tiny model whose processor loads the records (its size does not change with the corpus).
TINY = {
    "vit_kwargs": {"depth": 1, "embed_dim": 32, "num_heads": 2},
    "img_size": 32,
    "lm_config": {
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "intermediate_size": 64,
    },
    "vrl_ratio": 0.0,
}


def write_corpus(folder: Path, records: int, images: int = 12, size: int = 32) -> Path:
    """Write ``records`` JSONL records over ``images`` small seeded PNGs; return the JSONL."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    names = sorted(COLOURS)
    for i in range(images):
        colour = np.array(COLOURS[names[i % len(names)]])
        pixels = np.clip(colour[None, None] + rng.normal(0, 10, (size, size, 3)), 0, 255)
        Image.fromarray(pixels.astype(np.uint8)).save(folder / "images" / f"{i:03d}.png")
    template = (
        '{{"id": "r{n:07d}", "image": "images/{i:03d}.png", "conversations": '
        '[{{"from": "human", "value": "<image>\\nWhat colour is this?"}}, '
        '{{"from": "gpt", "value": "{label}"}}], "meta": {{"task": "classification"}}}}\n'
    )
    corpus = folder / "corpus.jsonl"
    with open(corpus, "w", encoding="utf-8") as handle:
        block = 100_000
        for start in range(0, records, block):
            handle.write(
                "".join(
                    template.format(n=n, i=n % images, label=names[(n % images) % len(names)])
                    for n in range(start, min(start + block, records))
                )
            )
    return corpus


def _tree_memory(pid: int) -> tuple[int, int, int]:
    """RSS of ``pid``, and RSS and PSS summed over it and its descendants (bytes)."""

    def rss(p: int) -> int:
        return proc_bytes(p, "VmRSS") or 0

    def pss(p: int) -> int:
        return proc_bytes(p, "Pss", "smaps_rollup") or 0

    def children(p: int) -> list[int]:
        found = []
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                found += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
        return found

    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children(p)
    return rss(pid), sum(rss(p) for p in tree), sum(pss(p) for p in tree)


class _Sampler(threading.Thread):
    """Peak memory of this process and its workers, sampled every ``interval`` seconds."""

    def __init__(self, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = [0, 0, 0]
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.peak = [
                max(a, b) for a, b in zip(self.peak, _tree_memory(os.getpid()), strict=True)
            ]
            time.sleep(self.interval)

    def stop(self) -> list[int]:
        self.stopped.set()
        self.join()
        self.peak = [max(a, b) for a, b in zip(self.peak, _tree_memory(os.getpid()), strict=True)]
        return self.peak


def measure(shards: Path, workers: int, batch_size: int, batches: int) -> dict[str, Any]:
    """Load ``shards`` as training does, in this process; return the measures."""
    from vitp_core.data.datamodule import InstructionDataModule
    from vitp_core.training.module import ViTPPretrainModule

    processor = ViTPPretrainModule(**TINY).processor
    before = _tree_memory(os.getpid())[0]
    sampler = _Sampler()
    sampler.start()
    start = time.perf_counter()
    data = InstructionDataModule(
        corpus=str(shards),
        processor=processor,
        batch_size=batch_size,
        num_workers=workers,
        val_fraction=0.01,
        reliance_records=64,
    )
    data.setup("fit")
    setup_s = time.perf_counter() - start
    loader = data.train_dataloader()
    iterator = iter(loader)
    first = next(iterator)
    first_batch_s = time.perf_counter() - start
    loaded, bad = len(first.record_ids), len(first.skipped)
    start = time.perf_counter()
    for _ in range(batches):
        try:
            batch = next(iterator)
        except StopIteration:
            break
        loaded, bad = loaded + len(batch.record_ids), bad + len(batch.skipped)
    seconds = time.perf_counter() - start
    rest = loaded - len(first.record_ids)
    main_rss, tree_rss, tree_pss = sampler.stop()
    del iterator
    return {
        "first_batch_s": first_batch_s,
        "setup_s": setup_s,
        "records_per_s": rest / seconds if seconds > 0 else None,
        "records_loaded": loaded,
        "bad_in_batches": bad,
        "train_items": data.num_records,
        "held_out": len(data.held_out_records),
        "rss_before_corpus_mb": before / 2**20,
        "peak_rss_main_mb": main_rss / 2**20,
        "peak_rss_with_workers_mb": tree_rss / 2**20,
        "peak_pss_with_workers_mb": tree_pss / 2**20,
    }


def run_size(records: int, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Generate, optimize and measure one corpus size (the measure in its own process)."""
    from vitp_core.corpus.shards import optimize_corpus

    folder = work / f"corpus_{records}"
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    corpus = write_corpus(folder, records)
    generate_s = time.perf_counter() - start
    jsonl_mb = corpus.stat().st_size / 2**20
    start = time.perf_counter()
    manifest = optimize_corpus(
        corpus, folder / "shards", chunk_bytes=args.chunk_bytes, workers=args.optimize_workers
    )
    optimize_s = time.perf_counter() - start
    chunks = len(list((folder / "shards").glob("*.bin")))
    command = [
        sys.executable,
        __file__,
        "--measure",
        str(folder / "shards"),
        "--workers",
        str(args.workers),
        "--batch-size",
        str(args.batch_size),
        "--batches",
        str(args.batches),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {records} records failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "records": records,
        "items": manifest.items,
        "chunks": chunks,
        "jsonl_mb": jsonl_mb,
        "generate_s": generate_s,
        "optimize_s": optimize_s,
        "optimize_records_per_s": records / optimize_s,
        **result,
    }


def _targets(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by = {row["records"]: row for row in rows}
    small, large = by.get(10_000), by.get(1_000_000)
    ratio = (
        large["peak_rss_with_workers_mb"] / small["peak_rss_with_workers_mb"]
        if small and large
        else None
    )
    first = large["first_batch_s"] if large else None
    return {
        "peak_rss_ratio_1m_vs_10k": ratio,
        "peak_rss_ratio_target": 1.2,
        "peak_rss_ratio_met": None if ratio is None else ratio <= 1.2,
        "first_batch_s_1m": first,
        "first_batch_s_target": 10.0,
        "first_batch_s_met": None if first is None else first < 10.0,
    }


def _table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'records':>9} {'optimize s':>10} {'first batch s':>13} {'records/s':>9} "
        f"{'RSS+workers MB':>14} {'PSS+workers MB':>14} {'main RSS MB':>11}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['records']:>9} {r['optimize_s']:>10.1f} {r['first_batch_s']:>13.2f} "
            f"{r['records_per_s']:>9.0f} {r['peak_rss_with_workers_mb']:>14.0f} "
            f"{r['peak_pss_with_workers_mb']:>14.0f} {r['peak_rss_main_mb']:>11.0f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the sizes, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers.")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batches", type=int, default=40, help="Batches timed after the first.")
    parser.add_argument("--chunk-bytes", default="64MB", help="Shard chunk size.")
    parser.add_argument(
        "--optimize-workers", type=int, default=2, help="Processes of vitp corpus optimize."
    )
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "corpus_scale")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--keep", action="store_true", help="Keep the generated corpora.")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.workers, args.batch_size, args.batches)))
        return 0
    rows = []
    for records in args.sizes:
        rows.append(run_size(records, args.work, args))
        print(_table(rows[-1:]).splitlines()[-1], flush=True)
    result = {
        "bench": "corpus_scale",
        "settings": {
            "workers": args.workers,
            "batch_size": args.batch_size,
            "batches_timed": args.batches,
            "chunk_bytes": args.chunk_bytes,
            "optimize_workers": args.optimize_workers,
            "images": "12 generated 32x32 PNGs shared by all records",
            "model": "tiny processor (ViT 32 px, 1 layer)",
        },
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "sizes": rows,
        "targets": _targets(rows),
    }
    print(_table(rows))
    print(json.dumps(result["targets"], indent=1))
    from vitp_core.atomic_io import atomic_write_json

    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
