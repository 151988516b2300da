import random

from vitp_core.corpus.grounding import parse_boxes
from vitp_core.corpus.questions.detection import ObjectBoxes, detection_questions, plural

OBJECTS = ObjectBoxes(
    boxes=[[0, 0, 10, 10], [50, 50, 90, 90], [20, 60, 30, 70], [70, 0, 100, 20]],
    labels=["airplane", "airplane", "airplane", "ship"],
    width=100,
    height=100,
    classes=["airplane", "ship", "storage tank"],
)


def test_counts_and_grounding_agree_with_the_boxes() -> None:
    seen = set()
    for seed in range(300):
        for question, answer in detection_questions(OBJECTS, random.Random(seed), 7):
            seen.add(question.split()[0])
            if "airplanes" in question and (
                "How many" in question or "Count" in question or "number" in question
            ):
                assert answer == "There are 3 airplanes."
            if "storage tanks" in question and "Locate" not in question:
                assert answer == "There are no storage tanks."
            if question.startswith(
                (
                    "Where is the airplane",
                    "Locate all airplanes",
                    "Give the bounding boxes of every airplane",
                )
            ):
                assert parse_boxes(answer) == [
                    [500, 500, 900, 900],
                    [0, 0, 100, 100],
                    [200, 600, 300, 700],
                ]
            if "largest" in question:
                assert parse_boxes(answer) == [[500, 500, 900, 900]]
            if "leftmost" in question:
                assert parse_boxes(answer) == [[0, 0, 100, 100]]
            if "kinds of objects" in question or "Which objects" in question:
                assert answer == "3 airplanes and 1 ship."
    assert len(seen) >= 5


def test_ambiguous_referring_questions_are_not_asked() -> None:
    twins = ObjectBoxes([[0, 0, 10, 10], [1, 50, 11, 60]], ["car", "car"], 100, 100)
    for seed in range(100):
        assert not any(
            "leftmost" in q for q, _ in detection_questions(twins, random.Random(seed), 7)
        )


def test_plural() -> None:
    assert [plural(n) for n in ("ship", "bus", "ferry", "storage tank")] == [
        "ships",
        "buses",
        "ferries",
        "storage tanks",
    ]
