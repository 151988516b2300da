r"""Downstream evidence study: do ViTP backbones beat MAE and random init on held-out data?

One command pretrains, for every seed, one backbone per method and domain on the same
images with the same ViT shape and the same optimizer steps x batch -- random init, MAE
(lightly's MAE modules over the timm ViT), ViTP without VRL, ViTP with VRL 0.75 on every
sample, ViTP with the official release's setting (0.75 on 25% of samples) and early VRL --
then evaluates each on images kept out of pretraining:

* RSSCN7 test split: linear probe, k-NN, short fine-tune (accuracy); corruptions (noise,
  blur, JPEG, band dropout) and the clean - corrupted drop;
* Dubai tiles 7-8: segmentation fine-tune through the TorchGeo trainer (mIoU);
* hippocampus volumes 200+: 3D segmentation fine-tune through the MONAI network (Dice);
* PneumoniaMNIST test and BreastMNIST (transfer): linear probes (AUC, accuracy).

Pretraining images: RS = RSSCN7 train split + Dubai tiles 1-6; medical = VQA-RAD train
questions + PneumoniaMNIST train + hippocampus 000-199 slices.

Everything is cached under ``--work-dir/<budget>`` (corpora, backbones, per-run metrics);
a re-run only computes what is missing and regenerates the JSON and the report, unless
``--fresh``. Results: ``bench/results/downstream_<budget>.json``, ``docs/results.md``
(for the ``small`` and ``gpu`` budgets), figures in ``docs/figures/``.

Usage::

    python bench/downstream.py --data ../shared/data --budget small
    python bench/downstream.py --data ../shared/data --budget smoke --report /tmp/r.md
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime
import json
import logging
import multiprocessing
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from downstream_config import BUDGETS, METHODS, Budget, Method
from downstream_corpora import build_study_corpora, corpus_images, corpus_summary

from vitp_core.atomic_io import atomic_write_json
from vitp_core.export import load_backbone
from vitp_core.vlm.corpus_tokenizer import corpus_texts, train_corpus_tokenizer
from vitp_core.vlm.tokenizer import save_tokenizer

REPO = Path(__file__).resolve().parents[1]
GROUPS = ("frozen", "rsscn7_finetune", "dubai", "hippocampus")
log = logging.getLogger("downstream")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("VITP_DATA"), help="data root")
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="small")
    parser.add_argument("--work-dir", type=Path, default=REPO / "runs" / "downstream")
    parser.add_argument("--fresh", action="store_true", help="recompute everything")
    parser.add_argument("--methods", help="comma-separated subset of " + ",".join(METHODS))
    parser.add_argument("--seeds", help="comma-separated seeds (default: the budget's)")
    parser.add_argument("--steps", type=int, help="override pretraining steps (reduced run)")
    parser.add_argument(
        "--report-only", action="store_true", help="only rebuild JSON/report from the cache"
    )
    parser.add_argument("--results", type=Path, help="results JSON path")
    parser.add_argument("--report", type=Path, help="markdown report path")
    parser.add_argument("--figures", type=Path, default=REPO / "docs" / "figures")
    parser.add_argument("--threads", type=int, help="torch CPU threads (per job)")
    parser.add_argument(
        "--jobs",
        type=int,
        help="(method, seed) units run at once, each in its own process (default: 1 on a "
        "GPU, else 2 when there are 2+ cores: the tiny models use 2 single-threaded "
        "processes better than 1 two-threaded one)",
    )
    parser.add_argument(
        "--note",
        action="append",
        help="a line about this run for the report (kept in the work folder for re-runs)",
    )
    return parser.parse_args(argv)


def _budget(args: argparse.Namespace) -> Budget:
    budget = BUDGETS[args.budget]
    changes: dict[str, Any] = {}
    if args.seeds:
        changes["seeds"] = tuple(int(s) for s in args.seeds.split(","))
    if args.steps:
        changes["steps"] = args.steps
    return dataclasses.replace(budget, **changes) if changes else budget


def _load_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


class Study:
    """One study run: cached pretraining and evaluation of every (method, seed).

    Args:
        budget: The budget.
        data: Data root.
        work: Cache folder of this budget.
        fresh: Ignore cached backbones and metrics.
    """

    def __init__(self, budget: Budget, data: Path, work: Path, fresh: bool) -> None:
        self.budget = budget
        self.data = data
        self.work = work
        self.fresh = fresh
        self.mixtures: dict[str, Path] = {}
        self.images: dict[str, list[Path]] = {}
        self.tokenizers: dict[str, str] = {}
        self.pretrain_logs: list[dict[str, Any]] = []

    def _tag(self, method: Method) -> str:
        """Cache folder name: the budget's steps x batch, and ViTP's tokenizer."""
        budget = self.budget
        tag = f"steps{budget.steps}_bs{budget.batch_size}"
        if method.kind != "vitp":
            return tag
        return tag + ("_bytes" if budget.tokenizer == "bytes" else f"_bpe{budget.tokenizer_vocab}")

    def backbone_path(self, method: Method, seed: int, domain: str) -> Path:
        """Export path of one pretrained backbone."""
        return (
            self.work
            / "backbones"
            / self._tag(method)
            / domain
            / f"{method.name}_s{seed}.safetensors"
        )

    def metrics_path(self, method: Method, seed: int, group: str) -> Path:
        """Cached metrics of one evaluation group (the folder names the fine-tune lengths)."""
        budget = self.budget
        evals = f"ft{budget.finetune_steps}_seg{budget.seg_steps}_vol{budget.vol_steps}"
        folder = self.work / "metrics" / f"{self._tag(method)}_{evals}"
        return folder / f"{method.name}_s{seed}_{group}.json"

    def prepare(self) -> None:
        """Build (or reuse) the pretraining corpora."""
        self.mixtures = build_study_corpora(self.data, self.work.parent / "corpora")
        self.images = {domain: corpus_images(path) for domain, path in self.mixtures.items()}
        self.tokenizers = {domain: self._tokenizer(path) for domain, path in self.mixtures.items()}

    def _tokenizer(self, mixture: Path) -> str:
        """ViTP's tokenizer for one domain: ``"bytes"`` or a BPE folder trained on its text."""
        if self.budget.tokenizer == "bytes":
            return "bytes"
        folder = mixture.parent / f"tokenizer_bpe{self.budget.tokenizer_vocab}"
        if self.fresh or not (folder / "tokenizer.json").is_file():
            trained = train_corpus_tokenizer(corpus_texts(mixture), self.budget.tokenizer_vocab)
            save_tokenizer(trained, folder)
        return str(folder)

    def pretrain(self, method: Method, seed: int) -> dict[str, Path]:
        """Both domains' backbones of (method, seed), pretrained when not cached."""
        from downstream_pretrain import pretrain_backbone

        paths = {}
        for domain, mixture in self.mixtures.items():
            path = self.backbone_path(method, seed, domain)
            if self.fresh or not path.with_suffix(".log.json").is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                log.info("pretrain %s seed %d on %s", method.name, seed, domain)
                done = pretrain_backbone(
                    self.budget,
                    method,
                    mixture,
                    self.images[domain],
                    seed,
                    path,
                    self.tokenizers[domain],
                )
                log.info("  %.0f s, last loss %s", done["wall_s"], (done["losses"] or ["-"])[-1])
            paths[domain] = path
        return paths

    def _group(self, group: str, backbones: dict[str, Path], seed: int) -> dict[str, float]:
        from downstream_finetune import dubai_miou, hippocampus_dice, rsscn7_finetune_acc
        from downstream_frozen import frozen_metrics

        budget, data = self.budget, self.data
        if group == "frozen":
            rs, med = (load_backbone(backbones[d]) for d in ("rs", "med"))
            return frozen_metrics(rs, med, data, budget.img_size, seed)
        if group == "rsscn7_finetune":
            return {"rsscn7_finetune_acc": rsscn7_finetune_acc(backbones["rs"], budget, data, seed)}
        if group == "dubai":
            return {"dubai_miou": dubai_miou(backbones["rs"], budget, data, seed)}
        return {"hippocampus_dice": hippocampus_dice(backbones["med"], budget, data, seed)}

    def evaluate(self, method: Method, seed: int, backbones: dict[str, Path]) -> dict[str, Any]:
        """Every downstream metric of (method, seed), each group cached on its own."""
        metrics: dict[str, float] = {}
        walls: dict[str, float] = {}
        for group in GROUPS:
            path = self.metrics_path(method, seed, group)
            cached = None if self.fresh else _load_json(path)
            if cached is None:
                log.info("evaluate %s seed %d: %s", method.name, seed, group)
                start = time.perf_counter()
                values = self._group(group, backbones, seed)
                cached = {"metrics": values, "wall_s": round(time.perf_counter() - start, 2)}
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_json(path, cached)
                log.info("  %s", {k: round(v, 4) for k, v in values.items()})
            metrics.update(cached["metrics"])
            walls[group] = cached["wall_s"]
        return {"method": method.name, "seed": seed, "metrics": metrics, "eval_wall_s": walls}

    def cached_runs(self, methods: list[Method]) -> tuple[list[dict], list[dict]]:
        """Every complete (method, seed) found in the cache, and all pretraining logs."""
        runs, logs = [], []
        for seed in self.budget.seeds:
            for method in methods:
                for domain in ("rs", "med"):
                    found = _load_json(
                        self.backbone_path(method, seed, domain).with_suffix(".log.json")
                    )
                    if found is not None:
                        logs.append(found)
                groups = [_load_json(self.metrics_path(method, seed, g)) for g in GROUPS]
                if all(g is not None for g in groups):
                    metrics = {k: v for g in groups for k, v in g["metrics"].items()}
                    walls = {name: g["wall_s"] for name, g in zip(GROUPS, groups, strict=True)}
                    runs.append(
                        {
                            "method": method.name,
                            "seed": seed,
                            "metrics": metrics,
                            "eval_wall_s": walls,
                        }
                    )
        return runs, logs


def _machine() -> str:
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    threads = torch.get_num_threads()
    return f"CPU, {os.cpu_count()} cores, {threads} torch threads, {platform.machine()}"


def _notes(
    study: Study, methods: list[Method], runs: list[dict], args: argparse.Namespace
) -> list[str]:
    budget = study.budget
    default = BUDGETS[budget.name]
    seeds_done = sorted({r["seed"] for r in runs})
    compute = sum(g["wall_s"] for g in study.pretrain_logs) + sum(
        sum(r["eval_wall_s"].values()) for r in runs
    )
    notes = [
        f"Budget `{budget.name}`: backbone `{budget.backbone}` {budget.backbone_kwargs} at "
        f"{budget.img_size} px for every method; pretraining {budget.steps} optimizer steps x "
        f"batch {budget.batch_size} per method and domain, AdamW (peak lr {budget.lr}, 10% "
        "warmup, cosine); ViTP's LM: Qwen2 "
        f"{budget.lm_config['num_hidden_layers']} layers x {budget.lm_config['hidden_size']} "
        + (
            "with the byte-level tokenizer"
            if budget.tokenizer == "bytes"
            else f"with a byte-level BPE ({budget.tokenizer_vocab} max) trained on each "
            "domain's pretraining text"
        )
        + "; MAE: lightly's masked ViT + decoder "
        f"{budget.mae_decoder} (width, depth, heads), mask ratio 0.75, normalised-pixel loss.",
        f"Methods: {', '.join(m.label for m in methods)}. Seeds with complete results: "
        f"{seeds_done} (each seed sets pretraining init and data order and downstream init).",
        "Pretraining images (one backbone per domain): RS = "
        + ", ".join(f"{k} {v} records" for k, v in corpus_summary(study.mixtures["rs"]).items())
        + " (RSSCN7 train split, Dubai tiles 1-6; Dubai repeated 4x in the mixture); medical = "
        + ", ".join(f"{k} {v} records" for k, v in corpus_summary(study.mixtures["med"]).items())
        + " (hippocampus volumes 000-199, PneumoniaMNIST train, VQA-RAD train questions; "
        "PneumoniaMNIST sampled at 0.25). MAE samples the first image of the same records.",
        "Downstream (held out of pretraining): RSSCN7 test split halved per class (even "
        "positions train the probe / k-NN / fine-tune, odd positions evaluate, 700 each); "
        f"RSSCN7 fine-tune {budget.finetune_steps} steps x {budget.finetune_batch} "
        "(ViTP TorchGeo classification task, mean-pooled patch tokens); Dubai tile 7 -> tile 8, "
        f"{budget.seg_tile} px windows, {budget.seg_steps} steps x {budget.seg_batch} "
        "(ViTP TorchGeo segmentation task, feature pyramid + UPerNet, 64 channels), mIoU "
        "macro over 5 classes, unlabelled ignored"
        + (f", first {budget.seg_test_batches} test batches" if budget.seg_test_batches else "")
        + f"; hippocampus volumes 200+ (134): first {budget.vol_train} fine-tune, last "
        f"{budget.vol_test} test, {budget.vol_steps} steps x {budget.vol_batch} at "
        f"{budget.vol_size} voxels (vitp_monai VitpUNETR, 2D weights inflated to 3D), mean "
        "Dice of the two labels; PneumoniaMNIST probe trained on val (524), tested on test "
        "(624); BreastMNIST probe train (546) -> test (156), never pretrained on.",
        "Frozen features: mean of the final patch tokens; probe: standardised logistic "
        "regression (C=0.5); k-NN: 20 neighbours, cosine, distance-weighted. Corruptions "
        "(REOBench-style, one severity) on the RSSCN7 evaluation half at 128 px: Gaussian "
        "noise sigma 0.08, Gaussian blur sigma 2, JPEG quality 10, one band zeroed.",
        f"Compute: {compute / 60:.0f} min of pretraining + evaluation in total on "
        f"{_machine()} (the sum of the cached steps' wall-clock; data loading included)"
        + (
            f"; this invocation ran {args.jobs} (method, seed) units at once, "
            f"{args.threads or 1} torch thread(s) each, so the sum exceeds the elapsed time."
            if args.jobs > 1
            else "."
        ),
    ]
    done = {m.name: sorted(r["seed"] for r in runs if r["method"] == m.name) for m in methods}
    missing = {name: sorted(set(budget.seeds) - set(seeds)) for name, seeds in done.items()}
    if any(missing.values()):
        notes.append(
            "**Incomplete run** -- complete (method: seeds): "
            + "; ".join(f"{METHODS[n].label}: {s or 'none'}" for n, s in done.items())
            + f". The budget asks for seeds {list(budget.seeds)} for every method; the "
            "missing ones did not finish in the time available and are absent from every "
            "table (shown as 'not run' or '1 seed')."
        )
    notes_file = study.work / "notes.json"
    if args.note:
        atomic_write_json(notes_file, args.note)
    notes += _load_json(notes_file) or []  # type: ignore[arg-type]
    if budget.steps != default.steps or budget.seeds != default.seeds or args.methods:
        notes.append(
            f"**Reduced run**: the `{budget.name}` budget defaults to {default.steps} steps and "
            f"seeds {list(default.seeds)}; this run used {budget.steps} steps, seeds "
            f"{list(budget.seeds)}" + (f", methods {args.methods}" if args.methods else "") + "."
        )
    return notes


def _reliance_text(logs: list[dict[str, Any]], method: str) -> str:
    """ "own vs other image" answer losses of one ViTP method, per domain."""
    parts = []
    for domain in ("rs_mix", "med_mix"):
        found = [
            g["image_reliance"]
            for g in logs
            if g["method"] == method and g["domain"] == domain and g.get("image_reliance")
        ]
        if found:
            own = sum(r["own_image"] for r in found) / len(found)
            other = sum(r["other_image"] for r in found) / len(found)
            parts.append(f"{domain}: {own:.3f} (own image) vs {other:.3f} (another record's)")
    return "; ".join(parts) or "not measured"


def _closing_note(result: dict[str, Any]) -> list[str]:
    from downstream_report import HEADLINE

    targets, budget, table = result["targets"], result["budget"], result["aggregate"]
    samples = budget["steps"] * budget["batch_size"]
    best = []
    for key, label in HEADLINE.items():
        ranked = sorted((stats[key]["mean"], name) for name, stats in table.items() if key in stats)
        if ranked:
            best.append(f"{label}: {METHODS[ranked[-1][1]].label} ({ranked[-1][0] * 100:.1f})")
    robust = targets["robustness"]
    robust_text = (
        "the robustness target (smaller clean - corrupted drop with VRL than without) is "
        + ("met" if robust["met"] else "missed")
        + f" ({robust['vitp_vrl'] * 100:.1f} vs {robust['vitp_novrl'] * 100:.1f} points"
        + (
            ""
            if robust.get("beyond_one_std", True) or not robust["met"]
            else f", a difference below one standard deviation ({robust['std'] * 100:.1f}),"
            " so not a clear effect"
        )
        + ")"
        if robust
        else "the robustness target could not be checked (ViTP without VRL did not finish)"
    )
    lm = budget["lm_config"]
    return [
        f"**Result.** ViTP + VRL beats both MAE and random init by more than one standard "
        f"deviation on {targets['metrics_won']} of {targets['metrics_compared']} headline "
        f"metrics, so the main target is {'met' if targets['beats_on_4_of_6'] else 'missed'}; "
        f"{robust_text}. Best method per headline metric: " + "; ".join(best) + ".",
        "",
        "**What limits it.** (1) The language model starts from scratch. The paper trains "
        "the ViT inside InternVL2.5-1B, whose LM already reads visual tokens; here a "
        f"{lm['num_hidden_layers']}-layer, {lm['hidden_size']}-wide Qwen2 must first learn "
        "the answer templates and only then learn to read the image, and only what it reads "
        "sends an image-specific gradient to the ViT. The answer-loss columns of the "
        "pretraining table measure this; for ViTP + VRL (nats per answer token): "
        f"{_reliance_text(result['pretrain_logs'], 'vitp_vrl')}. "
        "Nearly equal losses mean the answers depend little on the pixels (for comparison, "
        "an exploration in which the LM did read the image -- 600 steps, a 4x higher LM "
        "learning rate -- reached 0.43 vs 0.54 on the RS mix), whereas MAE's pixel loss is "
        "image-specific from its first step. "
        f"(2) Budget: each backbone saw {samples} samples ({budget['steps']} steps x "
        f"{budget['batch_size']}), a ViT of {budget['backbone_kwargs']} at "
        f"{budget['img_size']} px -- the paper pretrains a 300M ViT on millions of samples. "
        f"(3) Evaluation noise: the fine-tunes are short ({budget['finetune_steps']} RSSCN7, "
        f"{budget['seg_steps']} Dubai, {budget['vol_steps']} hippocampus steps), so they "
        "partly measure how fast a fresh decoder fits; the hippocampus Dice differs more "
        "between seeds than between methods. "
        "(4) Corpus: 1.6k RS and 6k medical records with templated questions, whose "
        "answers (class names, yes/no, counts) a small LM can partly guess from the text.",
        "",
        "**What was tried.** The same images, ViT shape, optimizer, peak learning rate, "
        "schedule and steps x batch for every method; MAE from lightly's maintained modules; "
        "a byte-level BPE trained on each domain's text instead of the byte tokenizer (3x "
        "shorter sequences, so the LM learns the templates sooner); frozen probes and k-NN "
        "next to the fine-tunes. Single-seed explorations before this run (a higher LM "
        "learning rate, a lower ViT learning rate, aligning the LM on a frozen ViT first, "
        "longer runs) and their figures are in "
        "[results_explorations.md](results_explorations.md). The `gpu` budget (ViT-S/16 at "
        "224 px, 5,000 steps x 64, full-length fine-tunes) is the configuration meant to "
        "test the paper's claim; it has not been run (no GPU in these sessions).",
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the study and write JSON, figures and report."""
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.data or not Path(args.data).is_dir():
        print("downstream: give --data DATA_ROOT (or set VITP_DATA): the shared data folder.")
        return 2
    if args.jobs is None:
        args.jobs = 1 if torch.cuda.is_available() else min(2, os.cpu_count() or 1)
    budget = _budget(args)
    methods = [METHODS[m] for m in (args.methods.split(",") if args.methods else METHODS)]
    study = Study(budget, Path(args.data).resolve(), args.work_dir / budget.name, args.fresh)
    study.prepare()
    if not args.report_only:
        units = [(method, seed) for seed in budget.seeds for method in methods]
        if args.jobs > 1:
            _run_parallel(study, units, args.jobs, args.threads or 1)
        else:
            for method, seed in units:
                study.evaluate(method, seed, study.pretrain(method, seed))
    return write_outputs(study, methods, args)


def _run_unit(study: Study, method: Method, seed: int, threads: int) -> str:
    """Pretrain and evaluate one (method, seed) in a worker process."""
    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    warnings.filterwarnings("ignore")
    import lightning  # noqa: F401  (sets its loggers to INFO on import; quieten them after)

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    study.evaluate(method, seed, study.pretrain(method, seed))
    return f"{method.name} seed {seed}"


def _run_parallel(study: Study, units: list[tuple[Method, int]], jobs: int, threads: int) -> None:
    """Run (method, seed) units in ``jobs`` processes; each writes its own cache files."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = [pool.submit(_run_unit, study, m, s, threads) for m, s in units]
        for future in concurrent.futures.as_completed(futures):
            log.info("done: %s", future.result())


def write_outputs(study: Study, methods: list[Method], args: argparse.Namespace) -> int:
    """Aggregate the cached runs into the results JSON, figures and markdown report."""
    from downstream_report import aggregate, check_targets, write_figures, write_markdown

    budget = study.budget
    runs, logs = study.cached_runs(methods)
    study.pretrain_logs = logs
    if not runs:
        print("downstream: no complete run in the cache yet.")
        return 1
    smoke = budget.name == "smoke"  # plumbing only: its outputs stay in the work folder
    results = args.results or (
        study.work / "results.json"
        if smoke
        else REPO / "bench" / "results" / f"downstream_{budget.name}.json"
    )
    report = args.report or (study.work / "results.md" if smoke else REPO / "docs" / "results.md")
    table = aggregate(runs)
    result = {
        "created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(),
        "budget": budget.to_dict(),
        "methods": {m.name: dataclasses.asdict(m) for m in methods},
        "results_json": str(results.resolve().relative_to(REPO))
        if results.resolve().is_relative_to(REPO)
        else str(results),
        "runs": runs,
        "aggregate": table,
        "targets": check_targets(table),
        "pretrain_logs": logs,
    }
    result["closing_note"] = _closing_note(result)
    result["notes"] = _notes(study, methods, runs, args)
    figures = write_figures(
        table,
        logs,
        args.figures if budget.name != "smoke" else study.work / "figures",
        f"downstream_{budget.name}",
    )
    results.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(results, result)
    write_markdown(report, result, figures, result["notes"])
    print(f"results: {results}\nreport: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
