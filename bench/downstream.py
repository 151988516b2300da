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
import hashlib
import json
import logging
import multiprocessing
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from downstream_config import BUDGETS, METHODS, Budget, Method
from downstream_corpora import (
    build_study_corpora,
    combine_mixtures,
    corpus_images,
)

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
        self.stage_logs: dict[str, dict[str, Any]] = {}

    def _tag(self, method: Method) -> str:
        """Cache folder name: the budget's steps x batch, ViTP's tokenizer, the stages."""
        budget = self.budget
        tag = f"steps{budget.steps}_bs{budget.batch_size}"
        if budget.recipe == "staged":
            return f"{tag}_{self.domain_key}"
        if method.kind != "vitp":
            return tag
        return tag + ("_bytes" if budget.tokenizer == "bytes" else f"_bpe{budget.tokenizer_vocab}")

    @staticmethod
    def _hash(settings: dict[str, Any]) -> str:
        digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode())
        return digest.hexdigest()[:8]

    @property
    def stages_key(self) -> str:
        """Short hash of the settings of the shared start and alignment (staged recipe)."""
        shared = ("backbone", "img_size", "mae_decoder", "lm_config", "tokenizer", "max_seq_len")
        settings = {
            k: v
            for k, v in self.budget.to_dict().items()
            if k.startswith(("start_", "align_", "backbone_")) or k in shared
        }
        return self._hash(settings)

    @property
    def domain_key(self) -> str:
        """Short hash of every setting that shapes a pretrained backbone (not the evals)."""
        evals = {"seeds", "finetune", "seg_", "vol_", "accelerator", "reliance_every", "methods"}
        settings = {
            k: v
            for k, v in self.budget.to_dict().items()
            if k != "name" and not any(k.startswith(e) for e in evals)
        }
        return self._hash(settings)

    @property
    def stages(self) -> Path | None:
        """Folder of the staged recipe's shared start and aligned VLM (``None``: scratch)."""
        if self.budget.recipe != "staged":
            return None
        return self.work / "stages" / self.stages_key

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
        """Build (or reuse) the pretraining corpora; the staged recipe's start and alignment."""
        corpora = self.work.parent / "corpora"
        self.mixtures = build_study_corpora(self.data, corpora)
        self.images = {domain: corpus_images(path) for domain, path in self.mixtures.items()}
        if self.budget.recipe == "staged":
            both = combine_mixtures(self.mixtures, corpora / "both" / "both_mix.json")
            shared = self._tokenizer(both)  # one language model reads both domains
            self.tokenizers = dict.fromkeys(self.mixtures, shared)
            self._prepare_stages(both, shared)
        else:
            self.tokenizers = {d: self._tokenizer(path) for d, path in self.mixtures.items()}

    def _prepare_stages(self, both: Path, tokenizer: str) -> None:
        """The shared general start (MAE on both domains) and the aligned LM, cached."""
        from downstream_pretrain import align_language_model, pretrain_general_start

        stages = self.stages
        assert stages is not None
        if self.fresh or not (stages / "start.log.json").is_file():
            log.info("general start: MAE on both domains, %d steps", self.budget.start_steps)
            images = [image for domain in ("rs", "med") for image in self.images[domain]]
            pretrain_general_start(self.budget, images, stages)
        if self.fresh or not (stages / "align" / "align.log.json").is_file():
            log.info(
                "alignment: LM + projector on the frozen start, %d steps", self.budget.align_steps
            )
            done = align_language_model(
                self.budget, both, stages / "start.safetensors", tokenizer, stages / "align"
            )
            log.info(
                "  image reliance after alignment: %s", (done["image_reliance"] or {}).get("gap")
            )

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
                    self.stages,
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
    methods = [METHODS[m] for m in (args.methods.split(",") if args.methods else budget.methods)]
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


#: Where each budget's report goes (smoke budgets keep theirs in the work folder).
REPORTS = {"miniature": "results.md", "small": "results_small.md", "gpu": "results_gpu.md"}


def _stage_logs(study: Study) -> dict[str, dict[str, Any]]:
    """The staged recipe's start and alignment logs (losses dropped), if any."""
    if study.stages is None:
        return {}
    found = {
        "start": _load_json(study.stages / "start.log.json"),
        "align": _load_json(study.stages / "align" / "align.log.json"),
    }
    return {
        k: {**v, "losses": v["losses"][:: max(len(v["losses"]) // 200, 1)]}
        for k, v in found.items()
        if v
    }


def write_outputs(study: Study, methods: list[Method], args: argparse.Namespace) -> int:
    """Aggregate the cached runs into the results JSON, figures and markdown report."""
    from downstream_notes import (
        machine,
        scratch_closing_note,
        scratch_notes,
        staged_closing_note,
        staged_notes,
    )
    from downstream_report import aggregate, check_targets, write_figures, write_markdown

    budget = study.budget
    runs, logs = study.cached_runs(methods)
    study.pretrain_logs = logs
    study.stage_logs = _stage_logs(study)
    if not runs:
        print("downstream: no complete run in the cache yet.")
        return 1
    smoke = budget.name not in REPORTS  # plumbing only: its outputs stay in the work folder
    results = args.results or (
        study.work / "results.json"
        if smoke
        else REPO / "bench" / "results" / f"downstream_{budget.name}.json"
    )
    report = args.report or (
        study.work / "results.md" if smoke else REPO / "docs" / REPORTS[budget.name]
    )
    table = aggregate(runs)
    staged = budget.recipe == "staged"
    result = {
        "created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "budget": budget.to_dict(),
        "methods": {m.name: dataclasses.asdict(m) for m in methods},
        "results_json": str(results.resolve().relative_to(REPO))
        if results.resolve().is_relative_to(REPO)
        else str(results),
        "targets": check_targets(table, budget.recipe, logs),
        "aggregate": table,
        "runs": runs,
        "stages": study.stage_logs,
        "pretrain_logs": logs,
    }
    result["closing_note"] = (staged_closing_note if staged else scratch_closing_note)(result)
    result["notes"] = (staged_notes if staged else scratch_notes)(study, methods, runs, args)
    figures = write_figures(
        table,
        logs,
        study.work / "figures" if smoke else args.figures,
        f"downstream_{budget.name}",
    )
    results.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(results, result)
    write_markdown(report, result, figures, result["notes"])
    print(f"results: {results}\nreport: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
