import random

import numpy as np

from vitp_core.corpus.questions.segmentation import MaskLabels
from vitp_core.corpus.questions.volume import volume_extents, volume_questions

LABELS = MaskLabels(
    {0: "background", 1: "liver", 2: "spleen", 3: "lesion"}, frozenset({0}), None, "organs"
)


def test_extents_in_millimetres_and_questions() -> None:
    labels = np.zeros((20, 20, 10), dtype=np.int32)
    labels[2:12, 4:9, 0:5] = 1  # 10 x 5 x 5 voxels
    labels[15:17, 15:17, 2:4] = 2
    extents = volume_extents(labels, (1.0, 2.0, 3.0), LABELS)
    assert [e.name for e in extents] == ["liver", "spleen"]
    assert extents[0].extent_mm == (10.0, 10.0, 15.0)
    assert abs(extents[0].volume_ml - 250 * 6 / 1000) < 1e-9
    for seed in range(40):
        for question, answer in volume_questions(extents, LABELS, random.Random(seed), 4):
            if "larger" in question:
                assert answer == "The liver is larger."
            if "lesion" in question:
                assert answer.startswith("No")
            if "size of the liver" in question:
                assert answer.startswith(
                    "About 1.5 mL, spanning 10 mm left-right, 10 mm front-back and 15 mm"
                )


def test_patient_side_only_with_a_midline() -> None:
    labels = np.zeros((20, 8, 8), dtype=np.int32)
    labels[14:18, 2:5, 2:5] = 1  # high x: patient's right in RAS+
    labels[2:5, 2:5, 2:5] = 2
    assert all(e.side is None for e in volume_extents(labels, (1.0, 1.0, 1.0), LABELS))
    extents = volume_extents(labels, (1.0, 1.0, 1.0), LABELS, midline=True)
    assert {e.name: e.side for e in extents} == {"liver": "right", "spleen": "left"}
    for seed in range(30):
        for question, answer in volume_questions(extents, LABELS, random.Random(seed), 5):
            if question.startswith("On which side"):
                expected = "right" if "liver" in question else "left"
                assert answer == f"On the patient's {expected} side."
