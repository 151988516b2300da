"""RunArtifacts: what a finished (or stopped) pretraining run leaves for the user.

In ``run_dir``: ``backbone.safetensors`` + ``backbone.json`` (the exported ViT),
``loss_curve.png``, ``tokenizer/``, ``bad_records.jsonl`` and ``run_summary.json``.
The loss history is part of the callback state, so a resumed run plots the whole curve.
A run that never trained on a record writes its reports but no backbone, and fails.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L

from vitp_core.atomic_io import atomic_path, atomic_write_json, atomic_write_text
from vitp_core.export import export_backbone
from vitp_core.training.reliance import NOT_READING_ADVICE, ImageReliance, ImageRelianceMonitor
from vitp_core.training.safety import NothingTrainedError
from vitp_core.vlm.tokenizer import save_tokenizer

__all__ = ["RunArtifacts", "plot_loss_curve"]


def _smooth(values: list[float]) -> tuple[list[float], int]:
    window = max(len(values) // 20, 5)
    means = [
        sum(values[max(0, i - window + 1) : i + 1]) / len(values[max(0, i - window + 1) : i + 1])
        for i in range(len(values))
    ]
    return means, window


def plot_loss_curve(
    steps: list[int],
    losses: list[float],
    out: Path,
    title: str,
    reliance: Sequence[ImageReliance] = (),
) -> Path:
    """Write a PNG of training loss against optimizer step (atomically).

    With ``reliance`` measurements a second panel shows the held-out answer loss with
    each record's own image and with another record's, and their gap.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if reliance else 1
    fig, axes = plt.subplots(panels, 1, figsize=(6, 3.5 * panels), dpi=120, squeeze=False)
    ax = axes[0, 0]
    ax.plot(steps, losses, lw=0.8, alpha=0.5, label="loss per step")
    if len(losses) >= 10:
        smooth, window = _smooth(losses)
        ax.plot(steps, smooth, lw=1.6, label=f"mean of last {window}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("answer-token cross-entropy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    if reliance:
        _plot_reliance(axes[1, 0], reliance)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return out


def _plot_reliance(ax: Any, reliance: Sequence[ImageReliance]) -> None:
    at = [r.step for r in reliance]
    ax.plot(at, [r.own for r in reliance], marker="o", label="own image")
    ax.plot(at, [r.other for r in reliance], marker="o", label="another record's image")
    twin = ax.twinx()
    twin.plot(at, [r.gap for r in reliance], color="black", ls="--", marker="s", label="gap")
    twin.axhline(0.0, color="grey", lw=0.6)
    twin.set_ylabel("gap (nats per answer)")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("held-out answer loss (nats per answer)")
    ax.set_title("image reliance: does the LM read the image?")
    ax.grid(alpha=0.3)
    lines = ax.get_legend_handles_labels()
    twin_lines = twin.get_legend_handles_labels()
    ax.legend(lines[0] + twin_lines[0], lines[1] + twin_lines[1], fontsize=8)


class RunArtifacts(L.Callback):
    """Record the loss curve and export the backbone at the end of training.

    Args:
        run_dir: Folder of the run (set from ``--run_dir`` by the CLI).
        export: Export the ViT when training ends.
    """

    def __init__(self, run_dir: str = "runs/vitp-default", export: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.export = export
        self.steps: list[int] = []
        self.losses: list[float] = []

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        """Keep the step's loss for the curve (non-finite ones are counted, not drawn)."""
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None and getattr(batch, "batch", None) is not None:
            value = float(loss.detach())
            if math.isfinite(value):
                self.steps.append(trainer.global_step)
                self.losses.append(value)

    def state_dict(self) -> dict[str, Any]:
        """Loss history, saved in checkpoints."""
        return {"steps": self.steps, "losses": self.losses}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the loss history on resume."""
        self.steps = list(state_dict.get("steps", []))
        self.losses = list(state_dict.get("losses", []))

    def _bad_records(self, trainer: L.Trainer, pl_module: L.LightningModule) -> list:
        """Records left out when the corpus was read, then those every rank skipped."""
        datamodule = trainer.datamodule
        found = list(getattr(datamodule, "bad_records", []))
        return found + list(getattr(pl_module, "skipped_records", {}).values())

    @staticmethod
    def _gather_skipped(pl_module: L.LightningModule) -> None:
        """Merge every rank's skipped records into the module's (a collective under DDP)."""
        gather = getattr(pl_module, "gather_skipped_records", None)
        if gather is not None:
            gather()

    def _corpus_info(self, trainer: L.Trainer) -> dict[str, Any]:
        datamodule = trainer.datamodule
        if datamodule is None:
            return {}
        path = datamodule.corpus_path
        return {
            "name": path.stem if path.stem != "corpus" else path.parent.name,
            "path": str(path),
            "records": datamodule.num_records,
        }

    @staticmethod
    def _reliance(
        trainer: L.Trainer, pl_module: L.LightningModule
    ) -> tuple[ImageRelianceMonitor | None, ImageReliance | None]:
        """The run's image-reliance monitor and its final measurement (taken now if needed)."""
        for callback in trainer.callbacks:
            if isinstance(callback, ImageRelianceMonitor):
                return callback, callback.measure(trainer, pl_module)
        return None, None

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Write the curve, the backbone, the bad-record report and a summary; print where.

        Every rank takes part in gathering the skipped records; only rank 0 writes.
        """
        self._gather_skipped(pl_module)
        if trainer.is_global_zero:
            self._write(trainer, pl_module)

    def _write(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        written: dict[str, str] = {}
        monitor, reliance = self._reliance(trainer, pl_module)
        history = monitor.history if monitor is not None else []
        if self.losses:
            curve = plot_loss_curve(
                self.steps,
                self.losses,
                self.run_dir / "loss_curve.png",
                "ViTP pretraining",
                history,
            )
            written["loss curve"] = str(curve)
        bad = self._bad_records(trainer, pl_module)
        lines = "".join(
            json.dumps({"source": str(e.source), "reason": e.reason}) + "\n" for e in bad
        )
        written["bad records"] = str(atomic_write_text(self.run_dir / "bad_records.jsonl", lines))
        corpus = self._corpus_info(trainer)
        reliance_summary = _reliance_summary(monitor, reliance)
        health = getattr(pl_module, "health", None)
        steps = health.state_dict() if health is not None else {}
        if health is not None and health.trained_steps == 0:
            message = pl_module.nothing_trained_message()
            summary = {"steps": trainer.global_step, "error": message, **steps, "corpus": corpus}
            atomic_write_json(
                self.run_dir / "run_summary.json", {**summary, "bad_records": len(bad)}
            )
            raise NothingTrainedError(message)
        if self.export:
            extra = {"image_reliance": reliance_summary} if reliance_summary else {}
            meta = pl_module.backbone_metadata(corpus, extra)
            written["backbone"] = str(
                export_backbone(pl_module.model.vit, self.run_dir / "backbone.safetensors", meta)
            )
        written["tokenizer"] = str(save_tokenizer(pl_module.tokenizer, self.run_dir / "tokenizer"))
        checkpoint = trainer.checkpoint_callback
        if checkpoint is not None and checkpoint.dirpath:
            written["checkpoints"] = str(checkpoint.dirpath)
        summary = {
            "steps": trainer.global_step,
            "final_loss": self.losses[-1] if self.losses else None,
            "corpus": corpus,
            "bad_records": len(bad),
            "trained_steps": steps.get("trained_steps"),
            "nonfinite_steps": steps.get("nonfinite_steps"),
            "empty_steps": steps.get("empty_steps"),
            "image_reliance": reliance_summary,
            "artifacts": written,
        }
        atomic_write_json(self.run_dir / "run_summary.json", summary)
        self._print(summary, written, bad)

    @staticmethod
    def _print(summary: dict[str, Any], written: dict[str, str], bad: list) -> None:
        loss = summary["final_loss"]
        print(f"\nViTP pretraining finished: {summary['steps']} steps, final loss {loss}")
        print(
            f"corpus: {summary['corpus'].get('path')} ({summary['corpus'].get('records')} records)"
        )
        print(f"bad records skipped: {len(bad)}" + (f" (first: {bad[0]})" if bad else ""))
        if summary.get("nonfinite_steps"):
            print(f"steps skipped for a NaN/Inf loss or gradient: {summary['nonfinite_steps']}")
        reliance = summary.get("image_reliance")
        if reliance:
            print(
                f"image reliance on {reliance['records']} held-out records: answer loss "
                f"{reliance['own']:.3f} with their own image, {reliance['other']:.3f} with "
                f"another's, gap {reliance['gap']:.3f} nats per answer"
            )
            if not reliance["reading"]:
                print(f"  -> below {reliance['min_gap']}: {NOT_READING_ADVICE}")
        for label, path in written.items():
            print(f"  {label:12s} {path}")


def _reliance_summary(
    monitor: ImageRelianceMonitor | None, final: ImageReliance | None
) -> dict[str, Any] | None:
    """``run_summary.json``'s ``image_reliance``: the final values and the history."""
    if monitor is None or final is None:
        return None
    return {
        **final.to_dict(),
        "reading": monitor.is_reading(final),
        "min_gap": monitor.min_gap,
        "history": [
            {"step": r.step, "own": r.own, "other": r.other, "gap": r.gap} for r in monitor.history
        ],
    }
