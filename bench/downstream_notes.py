"""Words of the downstream study's report: what was run, and the closing note.

``scratch_*`` describe the from-scratch budgets (``small``, ``gpu``); ``staged_*`` the
paper's recipe in miniature (``miniature``). Facts come from the results; the
interpretation a person adds goes in with ``--note`` (kept in the work folder).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from downstream_config import BUDGETS, METHODS, Method
from downstream_corpora import corpus_summary
from downstream_report import HEADLINE, reliance_by_domain

from vitp_core.atomic_io import atomic_write_json

if TYPE_CHECKING:
    from downstream import Study

__all__ = [
    "machine",
    "scratch_closing_note",
    "scratch_notes",
    "staged_closing_note",
    "staged_notes",
]


def _load_json(path: Any) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def machine() -> str:
    """The machine the study ran on, in words."""
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    threads = torch.get_num_threads()
    return f"CPU, {os.cpu_count()} cores, {threads} torch threads, {platform.machine()}"


def _budget_note(budget: Any) -> str:
    lm = budget.lm_config
    tokenizer = (
        "the byte-level tokenizer"
        if budget.tokenizer == "bytes"
        else f"a byte-level BPE ({budget.tokenizer_vocab} max) trained on "
        + ("both domains' text" if budget.recipe == "staged" else "each domain's text")
    )
    return (
        f"Budget `{budget.name}`: backbone `{budget.backbone}` {budget.backbone_kwargs} at "
        f"{budget.img_size} px for every method; ViTP's LM: Qwen2 {lm['num_hidden_layers']} "
        f"layers x {lm['hidden_size']} with {tokenizer}; MAE: lightly's masked ViT + decoder "
        f"{budget.mae_decoder} (width, depth, heads), mask ratio 0.75, normalised-pixel loss."
    )


def _corpus_note(study: Study) -> str:
    rs = ", ".join(f"{k} {v} records" for k, v in corpus_summary(study.mixtures["rs"]).items())
    med = ", ".join(f"{k} {v} records" for k, v in corpus_summary(study.mixtures["med"]).items())
    return (
        f"Pretraining images: RS = {rs} (RSSCN7 train split, Dubai tiles 1-6; Dubai repeated "
        f"4x in the mixture); medical = {med} (hippocampus volumes 000-199, PneumoniaMNIST "
        "train, VQA-RAD train questions; PneumoniaMNIST sampled at 0.25). MAE samples the first "
        "image of the same records. ViTP holds up to 64 records of each corpus out of training "
        "to measure image reliance."
    )


def _downstream_note(budget: Any) -> str:
    return (
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
        "(624); BreastMNIST probe train (546) -> test (156), never pretrained on."
    )


FROZEN_NOTE = (
    "Frozen features: mean of the final patch tokens; probe: standardised logistic "
    "regression (C=0.5); k-NN: 20 neighbours, cosine, distance-weighted. Corruptions "
    "(REOBench-style, one severity) on the RSSCN7 evaluation half at 128 px: Gaussian "
    "noise sigma 0.08, Gaussian blur sigma 2, JPEG quality 10, one band zeroed."
)


def _compute_note(study: Study, runs: list[dict], args: argparse.Namespace) -> str:
    stages = sum(g.get("wall_s", 0.0) for g in study.stage_logs.values())
    compute = (
        stages
        + sum(g["wall_s"] for g in study.pretrain_logs)
        + sum(sum(r["eval_wall_s"].values()) for r in runs)
    )
    return (
        f"Compute: {compute / 60:.0f} min of pretraining + evaluation in total on "
        f"{machine()} (the sum of the cached steps' wall-clock; data loading included)"
        + (
            f"; this invocation ran {args.jobs} (method, seed) units at once, "
            f"{args.threads or 1} torch thread(s) each, so the sum exceeds the elapsed time."
            if args.jobs > 1
            else "."
        )
    )


def _completeness_notes(
    study: Study, methods: list[Method], runs: list[dict], args: argparse.Namespace
) -> list[str]:
    budget, default = study.budget, BUDGETS[study.budget.name]
    notes = []
    done = {m.name: sorted(r["seed"] for r in runs if r["method"] == m.name) for m in methods}
    if any(set(budget.seeds) - set(seeds) for seeds in done.values()):
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
    notes += _load_json(notes_file) or []
    if budget.steps != default.steps or budget.seeds != default.seeds or args.methods:
        notes.append(
            f"**Reduced run**: the `{budget.name}` budget defaults to {default.steps} steps and "
            f"seeds {list(default.seeds)}; this run used {budget.steps} steps, seeds "
            f"{list(budget.seeds)}" + (f", methods {args.methods}" if args.methods else "") + "."
        )
    return notes


def _seeds_note(methods: list[Method], runs: list[dict]) -> str:
    seeds_done = sorted({r["seed"] for r in runs})
    return (
        f"Methods: {', '.join(m.label for m in methods)}. Seeds with complete results: "
        f"{seeds_done} (each seed sets pretraining init and data order and downstream init)."
    )


def scratch_notes(
    study: Study, methods: list[Method], runs: list[dict], args: argparse.Namespace
) -> list[str]:
    """What a from-scratch study ran."""
    budget = study.budget
    return [
        _budget_note(budget),
        f"Pretraining: {budget.steps} optimizer steps x batch {budget.batch_size} per method "
        f"and domain from a random ViT (ViTP's LM from scratch too), AdamW (peak lr "
        f"{budget.lr}, 10% warmup, cosine).",
        _seeds_note(methods, runs),
        _corpus_note(study),
        _downstream_note(budget),
        FROZEN_NOTE,
        _compute_note(study, runs, args),
        *_completeness_notes(study, methods, runs, args),
    ]


def staged_notes(
    study: Study, methods: list[Method], runs: list[dict], args: argparse.Namespace
) -> list[str]:
    """What a staged (paper's recipe in miniature) study ran."""
    budget = study.budget
    start = study.stage_logs.get("start", {})
    align = study.stage_logs.get("align", {})
    align_gap = (align.get("image_reliance") or {}).get("gap")
    vit_lr = budget.lr * budget.vitp_vit_lr_scale
    return [
        _budget_note(budget),
        "The paper's recipe in miniature, three stages. (1) General start, shared by both "
        f"domains and every method: MAE on every pretraining image of both domains, "
        f"{budget.start_steps} steps x {budget.start_batch}, peak lr {budget.start_lr} "
        f"({start.get('wall_s', 0) / 60:.1f} min), standing in for the general InternViT. "
        f"(2) Alignment: the ViT frozen, projector and LM trained on both domains' instructions, "
        f"{budget.align_steps} steps x {budget.batch_size}, peak lr {budget.align_lr} "
        f"({align.get('wall_s', 0) / 60:.1f} min); held-out image-reliance gap after it: "
        + (f"{align_gap:.2f} nats per answer" if align_gap is not None else "not measured")
        + ", standing in for InternVL2.5's LM, which already reads its ViT. (3) Domain stage, "
        f"from that start, per domain and seed: {budget.steps} optimizer steps x "
        f"{budget.batch_size} for every method (the ViT's peak lr {vit_lr:g} in every method; "
        f"ViTP's projector and LM {budget.lr:g}; AdamW, 10% warmup, cosine).",
        "Methods of the domain stage: ViTP continues from the aligned VLM (VRL late, 0.75 of "
        "the visual tokens, on every sample / off / on 25% of samples as the official "
        "release); continued MAE resumes the start's encoder and decoder for the same steps "
        "(equal ViT-training steps) or for the alignment's steps more (equal total steps); "
        "the start alone is not trained further; the supervised ceiling trains the start's ViT "
        "with one linear head per labelled source on the labels the instruction corpus was "
        "built from (RSSCN7 scene and PneumoniaMNIST finding: softmax; Dubai and hippocampus: "
        "the classes present, one sigmoid each; VQA-RAD's free-text answers are not used).",
        _seeds_note(methods, runs)
        + " The start and the alignment are shared (seed 0): the start alone varies only "
        "with the downstream seed.",
        _corpus_note(study),
        _downstream_note(budget),
        FROZEN_NOTE,
        _compute_note(study, runs, args),
        *_completeness_notes(study, methods, runs, args),
    ]


def _reliance_text(logs: list[dict[str, Any]], method: str) -> str:
    """Held-out "own vs other image" answer losses of one ViTP method, per domain."""
    parts = [
        f"{domain}: {r['own']:.2f} (own image) vs {r['other']:.2f} (another record's), "
        f"gap {r['gap']:.2f}"
        for domain, r in reliance_by_domain(logs, method).items()
    ]
    return "; ".join(parts) or "not measured"


def scratch_closing_note(result: dict[str, Any]) -> list[str]:
    """The closing note of a from-scratch study (``small``, ``gpu``)."""
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
        "pretraining table measure this; for ViTP + VRL (nats per answer, held-out records, "
        "another record's image drawn at random): "
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


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}"


def _best_per_metric(table: dict[str, Any]) -> list[str]:
    best = []
    for key, label in HEADLINE.items():
        ranked = sorted((stats[key]["mean"], name) for name, stats in table.items() if key in stats)
        if ranked:
            best.append(f"{label}: {METHODS[ranked[-1][1]].label} ({ranked[-1][0] * 100:.1f})")
    return best


def _vrl_effect(table: dict[str, Any]) -> str:
    parts = []
    for key, label in HEADLINE.items():
        values = [table.get(m, {}).get(key) for m in ("vitp_vrl", "vitp_novrl", "vitp_official")]
        if all(v is not None for v in values):
            parts.append(
                f"{label} {values[0]['mean'] * 100:.1f} / {values[1]['mean'] * 100:.1f} / "
                f"{values[2]['mean'] * 100:.1f}"
            )
    return "; ".join(parts)


def staged_closing_note(result: dict[str, Any]) -> list[str]:
    """The closing note of a staged study: the targets' figures, from the results."""
    targets, table = result["targets"], result["aggregate"]
    won = targets["beats_mae_and_start"]
    share = targets["share_of_supervised_gain"]
    gap = targets["reliance_gap_nats_per_answer"]
    robust = targets["robustness"] or {}
    walls = {}
    for log in result["pretrain_logs"]:
        walls.setdefault(log["method"], []).append(log["wall_s"])
    wall_text = "; ".join(
        f"{METHODS[m].label} {np.mean(w):.0f} s" for m, w in walls.items() if np.mean(w) > 0
    )
    probe = "rsscn7_linear_acc"
    at = {m: table.get(m, {}).get(probe, {}).get("mean") for m in METHODS}
    return [
        f"**Result.** ViTP + VRL (late, 0.75, every sample) beats both continued MAE and the "
        f"start alone by more than one standard deviation on {won['count']} of {won['of']} "
        f"headline metrics (target: 4) -> {'met' if won['count'] >= 4 else 'missed'}. Its share "
        "of the supervised ceiling's gain over the start on the RSSCN7 probe: "
        + (f"{share * 100:.0f}%" if share is not None else "not measurable")
        + f" (target: 80%) -> {'met' if share is not None and share >= 0.8 else 'missed'}. "
        "Held-out image-reliance gap at the end of its domain stage: "
        + (f"{gap:.2f} nats per answer" if gap is not None else "not measured")
        + f" (target: 0.3) -> {'met' if gap is not None and gap >= 0.3 else 'missed'}. "
        + (
            f"Corruption drop with VRL {robust['vitp_vrl'] * 100:.1f} points vs without "
            f"{robust['vitp_novrl'] * 100:.1f} (1 std = {robust['std'] * 100:.1f}) -> "
            + ("met" if robust.get("beyond_one_std") and robust.get("met") else "missed")
            + " (target: smaller by more than one standard deviation)."
            if robust
            else ""
        ),
        "",
        "**Best method per headline metric.** " + "; ".join(_best_per_metric(table)) + ".",
        "",
        "**VRL.** ViTP with VRL on every sample / without VRL / on 25% of samples "
        f"(official): {_vrl_effect(table)}.",
        "",
        "**Equal ViT-training steps and equal total steps.** RSSCN7 probe: start "
        f"{_pct(at['start'])}, continued MAE for the domain stage's steps "
        f"{_pct(at['mae_continued'])}, continued MAE for the alignment's steps more (equal "
        f"total steps) {_pct(at['mae_total'])}, ViTP + VRL {_pct(at['vitp_vrl'])}, ViTP "
        f"without VRL {_pct(at['vitp_novrl'])}, supervised ceiling {_pct(at['supervised'])}.",
        "",
        f"**Wall-clock of the domain stage per run (mean of domains and seeds).** {wall_text}.",
    ]
