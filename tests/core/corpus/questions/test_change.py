import random

import numpy as np

from vitp_core.corpus.grounding import parse_boxes
from vitp_core.corpus.questions.change import change_questions, summarize_change


def test_no_change_is_always_no() -> None:
    summary = summarize_change(np.zeros((64, 64), dtype=bool))
    for seed in range(50):
        for _, answer in change_questions(summary, random.Random(seed), 4):
            assert "Yes" not in answer and "<box>" not in answer


def test_changed_regions_boxes_and_share() -> None:
    changed = np.zeros((100, 100), dtype=bool)
    changed[0:10, 0:20] = True
    changed[50:70, 50:60] = True
    summary = summarize_change(changed)
    assert summary.fraction == 0.04
    assert summary.boxes == [[0, 0, 200, 100], [500, 500, 600, 700]]
    for seed in range(50):
        for question, answer in change_questions(summary, random.Random(seed), 4):
            if "<box>" in answer:
                assert parse_boxes(answer) == summary.boxes
            if "How many" in question or "Count" in question:
                assert answer == "There are 2."
            if (
                "changed between" in question
                or "Are there" in question
                or "did the scene" in question
            ):
                assert answer == "Yes, about 4% of the area changed."
