"""Plumbing of the downstream study: aggregation, target check, report; MAE step (no data)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from downstream_config import BUDGETS, METHODS
from downstream_pretrain import MAEPretrainModule
from downstream_report import (
    HEADLINE,
    aggregate,
    check_targets,
    write_figures,
    write_markdown,
)

from vitp_core.backbone import create_backbone


def _runs(gap: float) -> list[dict]:
    """Three seeds per method; ViTP+VRL is ``gap`` above everyone on every headline metric."""
    runs = []
    for method in METHODS:
        for seed in range(3):
            base = 0.5 + 0.01 * seed + (gap if method == "vitp_vrl" else 0.0)
            metrics = {key: base for key in HEADLINE}
            metrics["rsscn7_robustness_drop"] = 0.05 if method == "vitp_vrl" else 0.1
            runs.append({"method": method, "seed": seed, "metrics": metrics})
    return runs


def test_aggregate_mean_and_sample_std() -> None:
    table = aggregate(_runs(0.0))
    stats = table["mae"]["dubai_miou"]
    assert stats["n"] == 3
    assert stats["mean"] == pytest.approx(0.51)
    assert stats["std"] == pytest.approx(0.01)


@pytest.mark.parametrize(("gap", "won"), [(0.05, 6), (0.005, 0)])
def test_targets_need_more_than_one_std(gap: float, won: int) -> None:
    targets = check_targets(aggregate(_runs(gap)))
    assert targets["metrics_won"] == won
    assert targets["beats_on_4_of_6"] is (won >= 4)
    assert targets["robustness"]["met"] is True


def test_report_and_figures_written(tmp_path: Path) -> None:
    runs = _runs(0.05)
    table = aggregate(runs)
    logs = [
        {
            "method": m,
            "domain": d,
            "steps": 3,
            "batch_size": 2,
            "wall_s": 1.0,
            "losses": [3, 2, 1],
            "image_reliance": {
                "own": 0.5,
                "other": 0.75,
                "gap": 0.25,
                "same_label_share": 0.0,
                "history": [{"step": 3, "own": 0.5, "gap": 0.25}],
            }
            if m.startswith("vitp")
            else None,
        }
        for m in METHODS
        for d in ("rs_mix", "med_mix")
    ]
    figures = write_figures(table, logs, tmp_path / "figures", "downstream_test")
    result = {
        "aggregate": table,
        "budget": BUDGETS["smoke"].to_dict(),
        "created": "now",
        "machine": "test",
        "results_json": "x.json",
        "targets": check_targets(table),
        "pretrain_logs": logs,
        "closing_note": ["note"],
    }
    report = write_markdown(tmp_path / "results.md", result, figures, ["ran"])
    text = report.read_text()
    assert "**6 of 6**" in text
    assert "figures/downstream_test_metrics.png" in text
    assert "| 0.500 ± 0.000 | 0.750 ± 0.000 |" in text  # ViTP's answer loss, own vs other image
    assert all(path.is_file() for path in figures.values())


def test_mae_step_backpropagates_into_the_vit() -> None:
    torch.manual_seed(0)
    vit = create_backbone("vitp_tiny_patch16_224", img_size=32, depth=1, patch_size=8)
    module = MAEPretrainModule(vit, (32, 1, 2), mask_ratio=0.75, lr=1e-3)
    loss = module.training_step(torch.randn(2, 3, 32, 32), 0)
    loss.backward()
    assert torch.isfinite(loss)
    assert vit.patch_embed.proj.weight.grad is not None


def test_staged_targets_count_continued_mae_and_the_start() -> None:
    runs = _runs(0.05)
    for run in runs:  # the supervised ceiling gains twice what ViTP + VRL gains
        if run["method"] == "supervised":
            run["metrics"]["rsscn7_linear_acc"] += 0.1
    logs = [
        {"method": "vitp_vrl", "domain": d, "image_reliance": {"own": 1.0, "other": 1.5, "gap": g}}
        for d, g in (("rs_mix", 0.4), ("med_mix", 0.6))
    ]
    targets = check_targets(aggregate(runs), "staged", logs)
    assert targets["rivals"] == ["mae_continued", "start"]
    assert targets["beats_mae_and_start"] == {"count": 6, "of": 6}
    assert targets["share_of_supervised_gain"] == pytest.approx(0.05 / 0.1)
    assert targets["reliance_gap_nats_per_answer"] == pytest.approx(0.5)
