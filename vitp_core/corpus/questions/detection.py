"""Questions about object boxes: counting, grounding, referring by size and position.

Boxes come in pixels ``[x1, y1, x2, y2]``; answers give them normalised to 0-1000.
Referring questions ("the largest", "the leftmost") are only asked when the answer is
unambiguous (a clear margin between the first and second object).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vitp_core.corpus.grounding import format_grounding, normalize_box
from vitp_core.corpus.phrasing import join_names

__all__ = ["ObjectBoxes", "detection_questions", "plural"]

QA = tuple[str, str]


def plural(noun: str) -> str:
    """English plural of a class name: ``"ship"`` -> ``"ships"``, ``"bus"`` -> ``"buses"``."""
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


@dataclass(frozen=True)
class ObjectBoxes:
    """The objects of one image.

    Attributes:
        boxes: Pixel boxes ``[x1, y1, x2, y2]``, one per object.
        labels: Class name per object.
        width: Image width in pixels.
        height: Image height in pixels.
        classes: All class names of the dataset (for questions about absent classes).
    """

    boxes: Sequence[Sequence[float]]
    labels: Sequence[str]
    width: int
    height: int
    classes: Sequence[str] = ()

    def normalized(self, name: str) -> list[list[int]]:
        """0-1000 boxes of class ``name``, largest first."""
        picked = [b for b, lab in zip(self.boxes, self.labels, strict=True) if lab == name]
        picked.sort(key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
        return [normalize_box(b, self.width, self.height) for b in picked]

    @property
    def present(self) -> list[str]:
        """Classes with at least one object, most frequent first."""
        names = list(self.labels)
        return sorted(set(names), key=lambda n: (-names.count(n), n))


def _count(o: ObjectBoxes, rng: random.Random) -> QA | None:
    absent = [c for c in o.classes if c not in o.labels]
    options = o.present + absent[:2]
    if not options:
        return None
    name = rng.choice(options)
    n = list(o.labels).count(name)
    question = rng.choice(
        [
            f"How many {plural(name)} are there in this image?",
            f"Count the {plural(name)} in the image.",
            f"What is the number of {plural(name)} visible?",
        ]
    )
    if n == 0:
        return question, f"There are no {plural(name)}."
    return question, f"There is one {name}." if n == 1 else f"There are {n} {plural(name)}."


def _ground(o: ObjectBoxes, rng: random.Random, max_boxes: int = 10) -> QA | None:
    if not o.present:
        return None
    name = rng.choice(o.present)
    boxes = o.normalized(name)
    question = rng.choice(
        [
            f"Where is the {name}?",
            f"Locate all {plural(name)} in the image.",
            f"Give the bounding boxes of every {name}.",
        ]
    )
    answer = format_grounding(name, boxes[:max_boxes])
    if len(boxes) > max_boxes:
        answer += f" (the {max_boxes} largest of {len(boxes)})"
    return question, answer


def _detect_all(o: ObjectBoxes, rng: random.Random, max_boxes: int = 20) -> QA | None:
    if not o.present or len(o.labels) > max_boxes:
        return None
    question = rng.choice(
        ["Detect all objects in the image.", "List every object you see with its bounding box."]
    )
    return question, ", ".join(format_grounding(n, o.normalized(n)) for n in o.present)


def _extreme(
    o: ObjectBoxes,
    rng: random.Random,
    key: Callable[[list[int]], float],
    phrase: str,
    margin: float,
) -> QA | None:
    candidates = [n for n in o.present if list(o.labels).count(n) >= 2]
    if not candidates:
        return None
    name = rng.choice(candidates)
    ranked = sorted(o.normalized(name), key=key)
    if key(ranked[1]) - key(ranked[0]) < margin:  # ambiguous: no clear first
        return None
    return f"Which {name} is the {phrase}? Give its box.", format_grounding(name, [ranked[0]])


def _largest(o: ObjectBoxes, rng: random.Random) -> QA | None:
    def area(b: list[int]) -> float:
        return -(b[2] - b[0]) * (b[3] - b[1])

    return _extreme(o, rng, area, "largest", margin=2000.0)


def _leftmost(o: ObjectBoxes, rng: random.Random) -> QA | None:
    return _extreme(o, rng, lambda b: (b[0] + b[2]) / 2, "leftmost", margin=30.0)


def _topmost(o: ObjectBoxes, rng: random.Random) -> QA | None:
    return _extreme(o, rng, lambda b: (b[1] + b[3]) / 2, "topmost", margin=30.0)


def _kinds(o: ObjectBoxes, rng: random.Random) -> QA | None:
    if not o.present:
        return None
    question = rng.choice(
        ["What kinds of objects are in this image?", "Which objects can you see?"]
    )
    parts = [
        f"{list(o.labels).count(n)} {n if list(o.labels).count(n) == 1 else plural(n)}"
        for n in o.present
    ]
    return question, join_names(parts).capitalize() + "."


_TASKS: dict[str, Callable[[ObjectBoxes, random.Random], QA | None]] = {
    "count": _count,
    "ground": _ground,
    "detect_all": _detect_all,
    "largest": _largest,
    "leftmost": _leftmost,
    "topmost": _topmost,
    "kinds": _kinds,
}


def detection_questions(objects: ObjectBoxes, rng: random.Random, n_questions: int = 3) -> list[QA]:
    """Up to ``n_questions`` question/answer pairs of distinct kinds about the objects.

    Args:
        objects: Boxes and labels of one image.
        rng: Seeded generator choosing kinds and phrasings.
        n_questions: Maximum number of pairs.
    """
    kinds = list(_TASKS)
    rng.shuffle(kinds)
    pairs = []
    for kind in kinds:
        pair = _TASKS[kind](objects, rng)
        if pair is not None:
            pairs.append(pair)
        if len(pairs) == n_questions:
            break
    return pairs
