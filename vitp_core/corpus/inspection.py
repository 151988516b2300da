"""Corpus statistics and a PNG contact sheet of sample records.

``vitp corpus inspect CORPUS`` prints records per source and task, answer length
statistics (words), images per record, missing or unreadable images and bad records,
then draws a few seeded samples (images with the grounding boxes of the first answer,
and the first question and answer) to a contact sheet.
"""

from __future__ import annotations

import random
import textwrap
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vitp_core.corpus.grounding import BOX_SCALE, parse_boxes
from vitp_core.corpus.images import ImageReadError, load_image, to_display_uint8
from vitp_core.corpus.reader import iter_corpus
from vitp_core.corpus.records import BadRecordError, InstructionRecord
from vitp_core.corpus.validate import ImageChecker

__all__ = ["CorpusStats", "corpus_stats", "draw_contact_sheet", "format_stats"]


@dataclass
class CorpusStats:
    """Counts and distributions of one corpus (each record counted once)."""

    corpus: str
    records: int = 0
    per_source: Counter[str] = field(default_factory=Counter)
    per_task: Counter[str] = field(default_factory=Counter)
    images_per_record: Counter[int] = field(default_factory=Counter)
    turns_per_record: Counter[int] = field(default_factory=Counter)
    answer_words: list[int] = field(default_factory=list)
    distinct_images: int = 0
    image_problems: list[str] = field(default_factory=list)
    bad_records: list[str] = field(default_factory=list)
    samples: list[InstructionRecord] = field(default_factory=list, repr=False)


def corpus_stats(
    path: str | Path, check_images: bool = True, keep_records: bool = True
) -> CorpusStats:
    """Read a corpus and gather its statistics.

    Args:
        path: ``.jsonl`` corpus or mixture file.
        check_images: Decode every distinct image to find unreadable ones.
        keep_records: Keep the parsed records (for drawing samples).
    """
    stats = CorpusStats(str(path))
    checker = ImageChecker()
    images: set[Path] = set()
    for item in iter_corpus(path):
        if isinstance(item, BadRecordError):
            stats.bad_records.append(str(item))
            continue
        stats.records += 1
        stats.per_source[str(item.meta.get("source", "?"))] += 1
        stats.per_task[str(item.meta.get("task", "?"))] += 1
        stats.images_per_record[len(item.images)] += 1
        stats.turns_per_record[len(item.answers)] += 1
        stats.answer_words.extend(len(a.split()) for a in item.answers)
        for image in item.images:
            if image in images:
                continue
            images.add(image)
            problem = checker.problem(image) if check_images else None
            if problem is None and not check_images and not image.exists():
                problem = f"image {image}: file not found."
            if problem:
                stats.image_problems.append(f"{item.source}: {problem}")
        if keep_records:
            stats.samples.append(item)
    stats.distinct_images = len(images)
    return stats


def _counter_lines(title: str, counter: Counter, total: int) -> list[str]:
    lines = [f"{title}:"]
    for key, count in counter.most_common():
        lines.append(f"  {key!s:<28} {count:>8}  ({100 * count / max(total, 1):5.1f}%)")
    return lines


def format_stats(stats: CorpusStats, max_problems: int = 20) -> str:
    """Human-readable report of :func:`corpus_stats`."""
    words = np.array(stats.answer_words or [0])
    lines = [
        f"corpus: {stats.corpus}",
        f"records: {stats.records}   distinct images: {stats.distinct_images}   "
        f"bad records: {len(stats.bad_records)}   image problems: {len(stats.image_problems)}",
        *_counter_lines("per source", stats.per_source, stats.records),
        *_counter_lines("per task", stats.per_task, stats.records),
        "answer length (words): "
        f"min {words.min()}, median {np.median(words):.0f}, mean {words.mean():.1f}, "
        f"p95 {np.percentile(words, 95):.0f}, max {words.max()} "
        f"({len(stats.answer_words)} answers)",
        "images per record: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(stats.images_per_record.items())),
        "Q/A turns per record: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(stats.turns_per_record.items())),
    ]
    for title, problems in (
        ("bad records", stats.bad_records),
        ("missing or unreadable images", stats.image_problems),
    ):
        if problems:
            lines.append(f"{title} ({len(problems)}):")
            lines += [f"  {p}" for p in problems[:max_problems]]
            if len(problems) > max_problems:
                lines.append(f"  ... and {len(problems) - max_problems} more")
    return "\n".join(lines)


def _show_image(ax: Any, path: Path, boxes: list[list[float]]) -> None:
    """Show one image on a matplotlib axis with normalised boxes outlined."""
    from matplotlib.patches import Rectangle

    try:
        picture = to_display_uint8(load_image(path), percentiles=(0.5, 99.5))
    except ImageReadError as err:
        ax.text(
            0.5, 0.5, f"unreadable:\n{err.reason}", ha="center", va="center", fontsize=6, wrap=True
        )
        ax.set_axis_off()
        return
    height, width = picture.shape[:2]
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None)
    for x1, y1, x2, y2 in boxes:
        sx, sy = width / BOX_SCALE, height / BOX_SCALE
        corner, size = (x1 * sx, y1 * sy), ((x2 - x1) * sx, (y2 - y1) * sy)
        ax.add_patch(Rectangle(corner, *size, fill=False, edgecolor="yellow", linewidth=1))
    ax.set_axis_off()


def draw_contact_sheet(
    records: Sequence[InstructionRecord], out_png: str | Path, n_samples: int = 8, seed: int = 0
) -> Path:
    """Draw seeded sample records (images, boxes of the first answer, first Q/A) to a PNG.

    Args:
        records: Records to sample from.
        out_png: Output PNG file.
        n_samples: Number of records drawn.
        seed: Seed of the sample choice.

    Returns:
        The written path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picked = random.Random(seed).sample(list(records), min(n_samples, len(records)))
    max_images = max([min(3, len(r.images)) for r in picked] + [1])
    fig, axes = plt.subplots(
        max(1, len(picked)),
        max_images + 1,
        figsize=(2.2 * max_images + 4.5, 2.3 * max(1, len(picked))),
        squeeze=False,
    )
    for row, record in zip(axes, picked, strict=False):
        turns = [t for t in record.turns if t.role != "system"]
        question = turns[0].text.replace("<image>", "").strip() if turns else ""
        answer = turns[1].text if len(turns) > 1 else ""
        try:
            boxes = parse_boxes(answer) if len(record.images) == 1 else []
        except ValueError:
            boxes = []
        for col in range(max_images):
            if col < len(record.images):
                _show_image(row[col], record.images[col], boxes)
            else:
                row[col].set_axis_off()
        header = f"[{record.meta.get('source', '?')} / {record.meta.get('task', '?')}]"
        text = f"{header}\nQ: {question}\nA: {answer}"
        wrapped = "\n".join(textwrap.fill(line, 60) for line in text.splitlines())
        row[-1].text(0, 1, wrapped[:700], va="top", ha="left", fontsize=6.5, family="monospace")
        row[-1].set_axis_off()
    for row in axes[len(picked) :]:
        for ax in row:
            ax.set_axis_off()
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png
