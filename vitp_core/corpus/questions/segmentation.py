"""Questions about a label mask: classes present, shares, largest region, boxes, counts.

All answers derive from one :class:`MaskSummary` of the mask, so a count always equals
the number of grounded regions and a "no" never names a class that is present.
Classes covering less than ``min_share`` of the image are treated as uncertain: they
are listed with their share but never asked about in yes/no questions.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vitp_core.corpus.grounding import format_grounding, normalize_box, position_phrase
from vitp_core.corpus.phrasing import join_names, percent_phrase
from vitp_core.corpus.regions import Region, class_regions

__all__ = ["MaskLabels", "MaskSummary", "mask_questions", "summarize_mask"]

QA = tuple[str, str]


@dataclass(frozen=True)
class MaskLabels:
    """What the values of a mask mean.

    Attributes:
        names: Class index -> name (lower case reads best in sentences).
        ignore: Indices that are not a class (background, unlabeled, no-data).
        countable: Indices whose connected regions are objects worth counting
            (buildings, lesions); ``None`` means every class.
        noun: Plural noun for the classes in questions ("land-cover classes", "structures").
    """

    names: dict[int, str]
    ignore: frozenset[int] = frozenset()
    countable: frozenset[int] | None = None
    noun: str = "classes"

    def is_countable(self, label: int) -> bool:
        """Whether regions of ``label`` are counted and grounded one by one."""
        return self.countable is None or label in self.countable


@dataclass
class MaskSummary:
    """Label facts that every answer is computed from.

    Attributes:
        width: Mask width in pixels.
        height: Mask height in pixels.
        shares: Class index -> fraction of all pixels, for non-ignored classes present.
        regions: Class index -> connected regions, largest first.
        min_share: Share under which a class counts as a trace.
    """

    width: int
    height: int
    shares: dict[int, float]
    regions: dict[int, list[Region]] = field(default_factory=dict)
    min_share: float = 0.005

    @property
    def present(self) -> list[int]:
        """Classes above ``min_share``, largest share first."""
        clear = [k for k, v in self.shares.items() if v >= self.min_share]
        return sorted(clear, key=lambda k: -self.shares[k])

    def boxes(self, label: int) -> list[list[int]]:
        """Normalised 0-1000 boxes of the regions of ``label``, largest first."""
        return [normalize_box(r.box, self.width, self.height) for r in self.regions.get(label, [])]


def summarize_mask(
    mask: np.ndarray, labels: MaskLabels, min_share: float = 0.005, min_region: float = 0.001
) -> MaskSummary:
    """Shares and connected regions of the classes of a mask.

    Args:
        mask: Integer mask of shape ``(H, W)``.
        labels: Meaning of the mask values.
        min_share: Share of the image under which a class is a trace.
        min_region: Regions under this share of the image are ignored.
    """
    height, width = mask.shape
    values, counts = np.unique(mask, return_counts=True)
    total = float(mask.size)
    shares = {
        int(v): c / total
        for v, c in zip(values, counts, strict=True)
        if int(v) not in labels.ignore and int(v) in labels.names
    }
    summary = MaskSummary(width, height, shares, min_share=min_share)
    present = summary.present
    for region in class_regions(mask, present, min_area_fraction=min_region):
        summary.regions.setdefault(region.label, []).append(region)
    return summary


def _present(s: MaskSummary, lab: MaskLabels, rng: random.Random) -> QA | None:
    if not s.present:
        return None
    names = [lab.names[k] for k in s.present]
    question = rng.choice(
        [
            f"Which {lab.noun} can be seen in this image?",
            f"List the {lab.noun} present in the image.",
            f"What {lab.noun} does this image contain?",
        ]
    )
    answer = rng.choice(["{}.", "The image contains {}.", "I can see {}."])
    return question, answer.format(join_names(names)).capitalize()


def _composition(s: MaskSummary, lab: MaskLabels, rng: random.Random) -> QA | None:
    if len(s.shares) < 2:
        return None
    order = sorted(s.shares, key=lambda k: -s.shares[k])
    parts = [f"{lab.names[k]}: {percent_phrase(s.shares[k])}" for k in order]
    question = rng.choice(
        [
            f"Estimate how much of the image each of the {lab.noun} covers.",
            f"Give the approximate share of the image for each of the {lab.noun}.",
        ]
    )
    answer = "; ".join(parts) + "."
    return question, answer[0].upper() + answer[1:]


def _share(s: MaskSummary, lab: MaskLabels, rng: random.Random) -> QA | None:
    if not s.present:
        return None
    k = rng.choice(s.present)
    name = lab.names[k]
    question = rng.choice(
        [
            f"Approximately what fraction of the image is {name}?",
            f"How much of the image does {name} cover?",
            f"What share of this image is covered by {name}?",
        ]
    )
    return question, f"{percent_phrase(s.shares[k]).capitalize()} of the image is {name}."


def _largest(s: MaskSummary, lab: MaskLabels, rng: random.Random) -> QA | None:
    regions = [r for rs in s.regions.values() for r in rs]
    if not regions:
        return None
    top = max(regions, key=lambda r: r.area)
    name = lab.names[top.label]
    box = normalize_box(top.box, s.width, s.height)
    question = rng.choice(
        [
            f"Which of the {lab.noun} forms the largest single region, and where is it?",
            "What is the largest connected region in the image? Give its class and location.",
        ]
    )
    return question, (
        f"The largest region is {name}, in the {position_phrase(box)}: "
        f"{format_grounding(name, [box])}."
    )


def _ground(s: MaskSummary, lab: MaskLabels, rng: random.Random, max_boxes: int = 8) -> QA | None:
    candidates = [k for k in s.regions if lab.is_countable(k)]
    if not candidates:
        return None
    k = rng.choice(sorted(candidates))
    name, boxes = lab.names[k], s.boxes(k)
    question = rng.choice(
        [
            f"Where is the {name}? Answer with bounding boxes.",
            f"Locate every {name} region in the image.",
            f"Give the bounding boxes of the {name} regions.",
        ]
    )
    answer = format_grounding(name, boxes[:max_boxes])
    if len(boxes) > max_boxes:
        answer += f" (the {max_boxes} largest of {len(boxes)} regions)"
    return question, answer


def _count(s: MaskSummary, lab: MaskLabels, rng: random.Random) -> QA | None:
    countable = [k for k in lab.names if k not in lab.ignore and lab.is_countable(k)]
    # A trace class has no reliable count: ask only about clear or absent ones.
    candidates = [k for k in countable if k in s.regions or k not in s.shares]
    if not candidates:
        return None
    k = rng.choice(sorted(candidates))
    name, n = lab.names[k], len(s.regions.get(k, []))
    question = rng.choice(
        [
            f"How many separate {name} regions are there?",
            f"Count the distinct {name} regions in this image.",
        ]
    )
    if n == 0:
        return question, f"There are no {name} regions."
    return question, "There is one." if n == 1 else f"There are {n}."


def _presence(s: MaskSummary, lab: MaskLabels, rng: random.Random) -> QA | None:
    absent = [k for k in lab.names if k not in lab.ignore and k not in s.shares]
    options = [(k, True) for k in s.present] + [(k, False) for k in absent]
    if not options:
        return None
    k, is_present = rng.choice(options)
    name = lab.names[k]
    question = rng.choice([f"Is there any {name} in this image?", f"Does the image show {name}?"])
    if is_present:
        return question, f"Yes, {name} covers {percent_phrase(s.shares[k])} of the image."
    return question, f"No, there is no {name} in this image."


_TASKS: dict[str, Callable[[MaskSummary, MaskLabels, random.Random], QA | None]] = {
    "present": _present,
    "composition": _composition,
    "share": _share,
    "largest": _largest,
    "ground": _ground,
    "count": _count,
    "presence": _presence,
}


def mask_questions(
    summary: MaskSummary, labels: MaskLabels, rng: random.Random, n_questions: int = 3
) -> list[QA]:
    """Up to ``n_questions`` question/answer pairs about one mask, of distinct kinds.

    Args:
        summary: Facts of the mask (see :func:`summarize_mask`).
        labels: Meaning of the mask values.
        rng: Seeded generator choosing kinds and phrasings.
        n_questions: Maximum number of pairs.

    Returns:
        Pairs in a random order; empty when the mask holds no usable class.
    """
    kinds = list(_TASKS)
    rng.shuffle(kinds)
    pairs = []
    for kind in kinds:
        pair = _TASKS[kind](summary, labels, rng)
        if pair is not None:
            pairs.append(pair)
        if len(pairs) == n_questions:
            break
    return pairs
