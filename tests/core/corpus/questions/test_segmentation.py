import random
import re

import numpy as np

from vitp_core.corpus.grounding import parse_boxes
from vitp_core.corpus.questions.segmentation import MaskLabels, mask_questions, summarize_mask

LABELS = MaskLabels(
    {0: "background", 1: "building", 2: "water", 3: "road"},
    frozenset({0}),
    frozenset({1, 2}),
    "classes",
)


def _mask() -> np.ndarray:
    mask = np.zeros((100, 200), dtype=np.int32)
    mask[10:30, 10:50] = 1  # building A: 800 px
    mask[60:90, 150:190] = 1  # building B: 1200 px
    mask[40:100, 60:120] = 2  # water: 3600 px
    return mask


def test_summary_shares_and_regions() -> None:
    summary = summarize_mask(_mask(), LABELS)
    assert summary.shares == {1: 2000 / 20000, 2: 3600 / 20000}
    assert summary.present == [2, 1]
    assert summary.boxes(1) == [[750, 600, 950, 900], [50, 100, 250, 300]]  # largest first


def test_every_answer_agrees_with_the_mask() -> None:
    summary = summarize_mask(_mask(), LABELS)
    for seed in range(200):
        for question, answer in mask_questions(summary, LABELS, random.Random(seed), n_questions=7):
            if (
                "How many separate building" in question
                or "Count the distinct building" in question
            ):
                assert answer == "There are 2."
            if "separate water" in question or "distinct water" in question:
                assert answer == "There is one."
            if "road" in question and ("Is there" in question or "Does the image" in question):
                assert answer.startswith("No")
            if "building" in question and ("Is there" in question or "Does the image" in question):
                assert answer == "Yes, building covers about 10% of the image."
            if question.startswith(
                (
                    "Where is the building",
                    "Locate every building",
                    "Give the bounding boxes of the building",
                )
            ):
                assert parse_boxes(answer) == [[750, 600, 950, 900], [50, 100, 250, 300]]
            if "largest single region" in question or "largest connected region" in question:
                assert answer.startswith("The largest region is water")
            if "road regions" in question:
                assert answer == "There are no road regions."
            for share in re.findall(r"(\d+)%", answer):
                assert share in {"10", "18"}


def test_phrasings_vary_and_are_seeded() -> None:
    summary = summarize_mask(_mask(), LABELS)
    first = [mask_questions(summary, LABELS, random.Random(s)) for s in range(30)]
    again = [mask_questions(summary, LABELS, random.Random(s)) for s in range(30)]
    assert first == again
    assert len({q for pairs in first for q, _ in pairs}) > 10


def test_empty_mask_gives_only_absence_answers() -> None:
    summary = summarize_mask(np.zeros((10, 10), dtype=np.int32), LABELS)
    for seed in range(30):
        for _, answer in mask_questions(summary, LABELS, random.Random(seed), 7):
            assert answer.startswith(("No", "There are no"))
