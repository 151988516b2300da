"""Aggregate the downstream study's runs, check the targets, write the report and figures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from downstream_config import METHODS

from vitp_core.atomic_io import atomic_write_text

__all__ = [
    "HEADLINE",
    "RIVALS",
    "aggregate",
    "check_targets",
    "reliance_by_domain",
    "write_figures",
    "write_markdown",
]

#: The six downstream metrics of the targets (higher is better).
HEADLINE: dict[str, str] = {
    "rsscn7_linear_acc": "RSSCN7 linear probe acc.",
    "rsscn7_knn_acc": "RSSCN7 k-NN acc.",
    "rsscn7_finetune_acc": "RSSCN7 fine-tune acc.",
    "dubai_miou": "Dubai tiles 7-8 mIoU",
    "hippocampus_dice": "Hippocampus 3D mean Dice",
    "pneumonia_probe_auc": "PneumoniaMNIST probe AUC",
}
#: Reported too, outside the six target metrics.
SUPPLEMENTARY: dict[str, str] = {
    "pneumonia_probe_accuracy": "PneumoniaMNIST probe acc.",
    "breast_probe_auc": "BreastMNIST probe AUC (transfer)",
    "breast_probe_accuracy": "BreastMNIST probe acc. (transfer)",
    "rsscn7_corrupt_mean_acc": "RSSCN7 corrupted acc. (mean of 4)",
    "rsscn7_robustness_drop": "RSSCN7 clean - corrupted acc. (lower is better)",
}
CORRUPTION_KEYS = [
    "rsscn7_corrupt_gaussian_noise_acc",
    "rsscn7_corrupt_gaussian_blur_acc",
    "rsscn7_corrupt_jpeg_acc",
    "rsscn7_corrupt_band_dropout_acc",
]


def aggregate(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """``{method: {metric: {"mean", "std", "n"}}}`` over seeds (std: sample, ddof=1)."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for method in dict.fromkeys(run["method"] for run in runs):
        mine = [run["metrics"] for run in runs if run["method"] == method]
        keys = sorted({k for m in mine for k in m})
        table[method] = {}
        for key in keys:
            values = np.array([m[key] for m in mine if key in m], dtype=float)
            table[method][key] = {
                "mean": float(values.mean()),
                "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                "n": len(values),
            }
    return table


#: The rivals ViTP + VRL must beat, per recipe.
RIVALS: dict[str, tuple[str, ...]] = {
    "scratch": ("mae", "random"),
    "staged": ("mae_continued", "start"),
}


def _beats(a: dict[str, float], b: dict[str, float]) -> dict[str, Any]:
    margin = a["mean"] - b["mean"]
    std = max(a["std"], b["std"])
    return {"margin": margin, "std": std, "beats": bool(margin > std)}


def reliance_by_domain(logs: list[dict[str, Any]], method: str) -> dict[str, dict[str, float]]:
    """Mean (over seeds) final held-out image reliance of one method, per domain."""
    out = {}
    for domain in sorted({g["domain"] for g in logs}):
        found = [
            g["image_reliance"]
            for g in logs
            if g["method"] == method and g["domain"] == domain and g.get("image_reliance")
        ]
        if found:
            gaps = np.array([r["gap"] for r in found])
            out[domain] = {
                "own": float(np.mean([r["own"] for r in found])),
                "other": float(np.mean([r["other"] for r in found])),
                "gap": float(gaps.mean()),
                "gap_std": float(gaps.std(ddof=1)) if len(gaps) > 1 else 0.0,
                "n": len(found),
                "same_label_share": found[0].get("same_label_share"),
            }
    return out


def check_targets(
    table: dict[str, dict[str, dict[str, float]]],
    recipe: str = "scratch",
    logs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The issue's targets for ViTP with VRL (0.75, every sample).

    A metric counts when ViTP+VRL's mean exceeds every rival's mean by more than the
    larger standard deviation of the two compared methods (a method with a single seed
    contributes no standard deviation). Rivals: MAE and random init from scratch; in the
    staged recipe, continued MAE and the shared start alone.
    """
    vrl = table.get("vitp_vrl", {})
    rivals = RIVALS[recipe]
    per_metric = {}
    for key in HEADLINE:
        if key not in vrl:
            continue
        beats = {r: _beats(vrl[key], table[r][key]) for r in rivals if key in table.get(r, {})}
        per_metric[key] = {
            "vs": beats,
            "beats_both": bool(beats) and all(v["beats"] for v in beats.values()),
        }
    won = sum(v["beats_both"] for v in per_metric.values())
    targets: dict[str, Any] = {
        "rivals": list(rivals),
        "per_metric": per_metric,
        "metrics_won": won,
        "metrics_compared": len(per_metric),
        "beats_on_4_of_6": won >= 4,
        "robustness": _robustness(table),
    }
    if recipe == "staged":
        targets["beats_mae_and_start"] = {"count": won, "of": len(HEADLINE)}
        targets["share_of_supervised_gain"] = _share_of_supervised_gain(table)
        reliance = reliance_by_domain(logs or [], "vitp_vrl")
        gaps = [r["gap"] for r in reliance.values()]
        targets["reliance_gap_nats_per_answer"] = float(np.mean(gaps)) if gaps else None
        targets["reliance_gap_by_domain"] = reliance
    return targets


def _share_of_supervised_gain(table: dict[str, dict[str, dict[str, float]]]) -> float | None:
    """(ViTP+VRL - start) / (supervised - start) on the RSSCN7 linear probe."""
    key = "rsscn7_linear_acc"
    try:
        start = table["start"][key]["mean"]
        gain = table["supervised"][key]["mean"] - start
        return float((table["vitp_vrl"][key]["mean"] - start) / gain) if gain > 0 else None
    except KeyError:
        return None


def _robustness(table: dict[str, dict[str, dict[str, float]]]) -> dict[str, Any] | None:
    drop = "rsscn7_robustness_drop"
    vrl, novrl = table.get("vitp_vrl", {}).get(drop), table.get("vitp_novrl", {}).get(drop)
    if vrl is None or novrl is None:
        return None
    std = max(vrl["std"], novrl["std"])
    return {
        "vitp_vrl": vrl["mean"],
        "vitp_novrl": novrl["mean"],
        "std": std,
        "met": bool(vrl["mean"] < novrl["mean"]),
        "beyond_one_std": bool(novrl["mean"] - vrl["mean"] > std),
    }


def _cell(stats: dict[str, float] | None, scale: float = 100.0) -> str:
    if stats is None:
        return "not run"
    if stats["n"] < 2:
        return f"{stats['mean'] * scale:.1f} (1 seed)"
    return f"{stats['mean'] * scale:.1f} ± {stats['std'] * scale:.1f} (n={stats['n']})"


def _metric_table(
    table: dict[str, dict[str, dict[str, float]]], metrics: dict[str, str]
) -> list[str]:
    methods = list(table)
    lines = [
        "| metric | " + " | ".join(METHODS[m].label for m in methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for key, label in metrics.items():
        cells = []
        best = max(
            (table[m][key]["mean"] for m in methods if key in table[m]),
            default=None,
        )
        if key.endswith("_drop"):
            best = min((table[m][key]["mean"] for m in methods if key in table[m]), default=None)
        for m in methods:
            text = _cell(table[m].get(key))
            if best is not None and key in table[m] and table[m][key]["mean"] == best:
                text = f"**{text}**"
            cells.append(text)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def write_figures(
    table: dict[str, dict[str, dict[str, float]]],
    pretrain_logs: list[dict[str, Any]],
    folder: Path,
    prefix: str,
) -> dict[str, Path]:
    """Bar chart with error bars of every headline metric, and pretraining loss curves."""
    folder.mkdir(parents=True, exist_ok=True)
    methods = list(table)
    colours = plt.get_cmap("tab10")(np.arange(len(methods)))
    metrics = {**HEADLINE, "breast_probe_auc": SUPPLEMENTARY["breast_probe_auc"]}
    metrics["rsscn7_robustness_drop"] = "RSSCN7 robustness drop (lower better)"
    fig, axes = plt.subplots(2, 4, figsize=(16, 7))
    for ax, (key, label) in zip(axes.flat, metrics.items(), strict=False):
        means = [table[m].get(key, {}).get("mean", np.nan) * 100 for m in methods]
        stds = [table[m].get(key, {}).get("std", 0.0) * 100 for m in methods]
        ax.bar(range(len(methods)), means, yerr=stds, color=colours, capsize=4)
        ax.set_title(label, fontsize=10)
        ax.set_xticks(range(len(methods)), methods, rotation=45, ha="right", fontsize=8)
        finite = [v for v in means if np.isfinite(v)]
        if finite and not key.endswith("_drop"):
            low = max(0.0, min(finite) - 3 * max(max(stds), 1.0))
            ax.set_ylim(low, max(finite) + 2 * max(max(stds), 1.0))
    fig.tight_layout()
    bars = folder / f"{prefix}_metrics.png"
    fig.savefig(bars, dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for ax, domain in zip(axes, ("rs_mix", "med_mix"), strict=True):
        twin = ax.twinx()
        for colour, method in zip(colours, methods, strict=True):
            curves = [
                log["losses"]
                for log in pretrain_logs
                if log["method"] == method and log["domain"] == domain and log["losses"]
            ]
            if not curves:
                continue
            length = min(len(c) for c in curves)
            mean = np.mean([c[:length] for c in curves], axis=0)
            kernel = max(1, length // 20)
            smooth = np.convolve(mean, np.ones(kernel) / kernel, mode="valid")
            other = METHODS[method].kind != "vitp"
            target = twin if other else ax
            style = "--" if other else "-"
            target.plot(smooth, style, color=colour, label=method)
        ax.set_title(f"pretraining loss, {domain} (mean of seeds)")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("ViTP: answer-token cross-entropy")
        twin.set_ylabel("dashed: MAE normalised-pixel MSE / supervised heads' loss")
        handles = ax.get_legend_handles_labels()
        twin_handles = twin.get_legend_handles_labels()
        ax.legend(handles[0] + twin_handles[0], handles[1] + twin_handles[1], fontsize=8)
    fig.tight_layout()
    curves_path = folder / f"{prefix}_pretrain_loss.png"
    fig.savefig(curves_path, dpi=110)
    plt.close(fig)
    figures = {"metrics": bars, "pretrain_loss": curves_path}
    reliance = _reliance_figure(pretrain_logs, methods, colours, folder / f"{prefix}_reliance.png")
    if reliance is not None:
        figures["reliance"] = reliance
    return figures


def _reliance_figure(
    logs: list[dict[str, Any]], methods: list[str], colours: Any, out: Path
) -> Path | None:
    """Held-out image-reliance gap during pretraining, per ViTP method and domain."""
    found = [g for g in logs if (g.get("image_reliance") or {}).get("history")]
    if not found:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(13, 4))
    for ax, domain in zip(axes, ("rs_mix", "med_mix"), strict=True):
        for colour, method in zip(colours, methods, strict=True):
            for index, log in enumerate(
                g for g in found if g["method"] == method and g["domain"] == domain
            ):
                history = log["image_reliance"]["history"]
                ax.plot(
                    [h["step"] for h in history],
                    [h["gap"] for h in history],
                    marker="o",
                    color=colour,
                    alpha=0.8,
                    label=METHODS[method].label if index == 0 else None,
                )
        ax.axhline(0.3, color="grey", ls=":", lw=1, label="target 0.3")
        ax.set_title(f"held-out image-reliance gap, {domain} (each seed)")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("gap (nats per answer)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _mean_std(values: list[float], digits: int) -> str:
    array = np.array(values)
    std = array.std(ddof=1) if len(array) > 1 else 0.0
    return f"{array.mean():.{digits}f} ± {std:.{digits}f}"


def _wall_table(pretrain_logs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| method | domain | steps x batch | wall-clock per run (s) | final loss "
        "| answer loss, own image | answer loss, other image | reliance gap |",
        "|---|---|---|---|---|---|---|---|",
    ]
    keys = dict.fromkeys((log["method"], log["domain"]) for log in pretrain_logs)
    for method, domain in keys:
        logs = [g for g in pretrain_logs if g["method"] == method and g["domain"] == domain]
        finals = [float(np.mean(g["losses"][-10:])) for g in logs if g["losses"]]
        reliance = [g["image_reliance"] for g in logs if g.get("image_reliance")]
        cells = [
            _mean_std([r[k] for r in reliance], 3) if reliance else "-"
            for k in ("own", "other", "gap")
        ]
        lines.append(
            f"| {METHODS[method].label} | {domain} | {logs[0]['steps']} x "
            f"{logs[0]['batch_size']} | {_mean_std([g['wall_s'] for g in logs], 0)} | "
            f"{_mean_std(finals, 2) if finals else '-'} | " + " | ".join(cells) + " |"
        )
    return lines


def _target_lines(targets: dict[str, Any]) -> list[str]:
    rivals = " and ".join(METHODS[r].label for r in targets.get("rivals", ("mae", "random")))
    lines = [
        f"- ViTP + VRL beats both {rivals} by more than one standard deviation on "
        f"**{targets['metrics_won']} of {targets['metrics_compared']}** headline metrics "
        f"(target: at least 4 of 6) -> **{'met' if targets['beats_on_4_of_6'] else 'missed'}**."
    ]
    for key, result in targets["per_metric"].items():
        parts = [
            f"vs {rival}: {v['margin'] * 100:+.1f} points (1 std = {v['std'] * 100:.1f})"
            for rival, v in result["vs"].items()
        ]
        mark = "yes" if result["beats_both"] else "no"
        lines.append(f"  - {HEADLINE[key]}: {mark}; " + "; ".join(parts))
    robust = targets["robustness"]
    if robust is not None:
        lines.append(
            f"- Robustness drop (clean - mean corrupted RSSCN7 probe accuracy): ViTP + VRL "
            f"{robust['vitp_vrl'] * 100:.1f} points vs ViTP without VRL "
            f"{robust['vitp_novrl'] * 100:.1f} -> **{'met' if robust['met'] else 'missed'}**"
            + (
                ""
                if robust["beyond_one_std"] or not robust["met"]
                else f", but by less than one standard deviation "
                f"({robust['std'] * 100:.1f}): not a clear effect"
            )
            + "."
        )
    if "share_of_supervised_gain" in targets:
        share = targets["share_of_supervised_gain"]
        lines.append(
            "- ViTP + VRL's share of the supervised ceiling's gain over the start on the RSSCN7 "
            "probe: "
            + (f"**{share * 100:.0f}%**" if share is not None else "not measurable")
            + " (target: at least 80%) -> "
            + ("**met**." if share is not None and share >= 0.8 else "**missed**.")
        )
        gap = targets["reliance_gap_nats_per_answer"]
        by_domain = "; ".join(
            f"{d}: {r['gap']:.2f} ± {r['gap_std']:.2f}"
            for d, r in targets["reliance_gap_by_domain"].items()
        )
        lines.append(
            "- Held-out image-reliance gap at the end of domain ViTP + VRL: "
            + (f"**{gap:.2f} nats per answer** (mean of domains; {by_domain})" if gap else "-")
            + " (target: at least 0.3) -> "
            + ("**met**." if gap is not None and gap >= 0.3 else "**missed**.")
        )
    return lines


def _stage_lines(stages: dict[str, Any]) -> list[str]:
    if not stages:
        return []
    lines = ["| shared stage | steps x batch | wall-clock (s) | final loss | reliance gap |"]
    lines.append("|---|---|---|---|---|")
    for name, label in (("start", "general start (MAE)"), ("align", "alignment (ViT frozen)")):
        log = stages.get(name)
        if log:
            gap = (log.get("image_reliance") or {}).get("gap")
            final = float(np.mean(log["losses"][-5:])) if log["losses"] else float("nan")
            lines.append(
                f"| {label} | {log['steps']} x {log['batch_size']} | {log['wall_s']:.0f} | "
                f"{final:.3f} | {'-' if gap is None else f'{gap:.2f}'} |"
            )
    return [*lines, ""]


def write_markdown(
    path: Path,
    result: dict[str, Any],
    figures: dict[str, Path],
    notes: list[str],
) -> Path:
    """Write ``docs/results.md`` from a study result (as saved in the results JSON)."""
    table, budget = result["aggregate"], result["budget"]
    rel = {k: os.path.relpath(Path(v).resolve(), path.parent.resolve()) for k, v in figures.items()}
    corruption_labels = {
        k: k.removeprefix("rsscn7_corrupt_").removesuffix("_acc") for k in CORRUPTION_KEYS
    }
    staged = budget.get("recipe") == "staged"
    title = (
        "# Downstream evidence study: the paper's recipe in miniature, on the real data"
        if staged
        else "# Downstream evidence study: ViTP vs MAE vs random init on the real data"
    )
    lines = [
        title,
        "",
        "Generated by `python bench/downstream.py --data ../shared/data --budget "
        f"{budget['name']}` on {result['created']} ({result['machine']}). Do not edit by hand.",
        f"Raw numbers: `{result['results_json']}`.",
        "",
        "## What was run",
        "",
        *[f"- {note}" for note in notes],
        "",
        "## Targets",
        "",
        *_target_lines(result["targets"]),
        "",
        "## Headline metrics (mean ± std over seeds, in %)",
        "",
        *_metric_table(table, HEADLINE),
        "",
        "## Supplementary metrics",
        "",
        *_metric_table(table, SUPPLEMENTARY),
        "",
        "### RSSCN7 under corruptions (linear probe trained on clean features)",
        "",
        *_metric_table(table, {"rsscn7_linear_acc": "clean", **corruption_labels}),
        "",
        f"![metrics]({rel['metrics']})",
        "",
        "## Pretraining cost (same optimizer steps x batch for every method)",
        "",
        *_stage_lines(result.get("stages") or {}),
        "",
        *_wall_table(result["pretrain_logs"]),
        "",
        "Final loss: mean of the last 10 steps (MAE: normalised-pixel MSE; ViTP: answer "
        "cross-entropy, nats per token; supervised: the heads' summed loss). The answer-loss "
        "columns score up to 64 records held out of ViTP's training once with their own "
        "image and once with another record's (drawn at random, preferring another label), "
        "in nats per answer (eval mode, no VRL): when the two agree, the language model "
        "answers from the text alone and the ViT receives no useful signal.",
        "",
        f"![pretraining loss]({rel['pretrain_loss']})",
        "",
        *(
            [
                "Reliance gap: the held-out records' answer loss with another record's image "
                "(drawn at random, preferring another label) minus with their own image, "
                "nats per answer (the product's `ImageRelianceMonitor`).",
                "",
                f"![image reliance]({rel['reliance']})",
                "",
            ]
            if "reliance" in rel
            else []
        ),
        "## Closing note",
        "",
        *result.get("closing_note", []),
        "",
    ]
    atomic_write_text(path, "\n".join(lines))
    return path
