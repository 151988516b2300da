"""Questions about a change mask between two co-registered images.

The record shows the "before" image first and the "after" image second. Every answer
derives from the binary change mask: whether anything changed, where (boxes of the
connected changed regions), how much and how many regions.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vitp_core.corpus.grounding import format_grounding, normalize_box
from vitp_core.corpus.phrasing import percent_phrase
from vitp_core.corpus.regions import connected_boxes

__all__ = ["ChangeSummary", "change_questions", "summarize_change"]

QA = tuple[str, str]


@dataclass(frozen=True)
class ChangeSummary:
    """Facts of a change mask.

    Attributes:
        fraction: Share of changed pixels.
        boxes: Normalised 0-1000 boxes of the changed regions, largest first.
        subject: What changed, as a noun phrase ("building").
    """

    fraction: float
    boxes: list[list[int]]
    subject: str = "building"


def summarize_change(
    changed: np.ndarray, subject: str = "building", min_region: float = 0.0005
) -> ChangeSummary:
    """Share and regions of a boolean ``(H, W)`` change mask.

    Args:
        changed: True where something changed.
        subject: What the changes are (used in answers).
        min_region: Regions under this share of the image are not counted or boxed.
    """
    height, width = changed.shape
    step = max(1, int(np.ceil(max(height, width) / 512)))
    boxes, areas = connected_boxes(changed[::step, ::step])
    keep = areas * step * step >= min_region * changed.size
    normalized = [normalize_box(b * step, width, height) for b in boxes[keep]]
    return ChangeSummary(float(changed.mean()), normalized, subject)


def _whether(s: ChangeSummary, rng: random.Random) -> QA:
    question = rng.choice(
        [
            "Has anything changed between the two images?",
            f"Are there {s.subject} changes between the first and the second image?",
            "Compare the two images: did the scene change?",
        ]
    )
    if s.fraction == 0:
        return question, "No, I see no change between the two images."
    return question, f"Yes, {percent_phrase(s.fraction)} of the area changed."


def _where(s: ChangeSummary, rng: random.Random, max_boxes: int = 10) -> QA | None:
    if not s.boxes:
        return None
    question = rng.choice(
        [
            "Where did the changes happen? Give bounding boxes.",
            "Locate the changed areas in the second image.",
        ]
    )
    answer = format_grounding(f"{s.subject} change", s.boxes[:max_boxes])
    if len(s.boxes) > max_boxes:
        answer += f" (the {max_boxes} largest of {len(s.boxes)})"
    return question, answer


def _how_much(s: ChangeSummary, rng: random.Random) -> QA:
    question = rng.choice(
        ["How much of the area changed?", "What share of the image shows change?"]
    )
    if s.fraction == 0:
        return question, "None of it: the two images show no change."
    return question, f"{percent_phrase(s.fraction).capitalize()} of the image changed."


def _count(s: ChangeSummary, rng: random.Random) -> QA:
    question = rng.choice(
        ["How many separate changed areas are there?", "Count the distinct regions of change."]
    )
    n = len(s.boxes)
    if n == 0:
        return question, "There are none." if s.fraction == 0 else "None large enough to count."
    return question, "There is one." if n == 1 else f"There are {n}."


_TASKS: dict[str, Callable[[ChangeSummary, random.Random], QA | None]] = {
    "whether": _whether,
    "where": _where,
    "how_much": _how_much,
    "count": _count,
}


def change_questions(summary: ChangeSummary, rng: random.Random, n_questions: int = 3) -> list[QA]:
    """Up to ``n_questions`` question/answer pairs of distinct kinds about a change mask."""
    kinds = list(_TASKS)
    rng.shuffle(kinds)
    pairs = []
    for kind in kinds:
        pair = _TASKS[kind](summary, rng)
        if pair is not None:
            pairs.append(pair)
        if len(pairs) == n_questions:
            break
    return pairs
