import random
import re

from vitp_core.corpus.questions.classification import (
    DIAGNOSIS,
    SCENE,
    classification_questions,
    display_name,
)

CLASSES = ["field", "forest", "grass", "industry", "river lake"]


def test_answers_agree_with_the_label() -> None:
    for seed in range(300):
        for question, answer in classification_questions(
            "forest", CLASSES, random.Random(seed), SCENE, 3
        ):
            if "Answer with the letter" in question:
                letter = answer[0]
                assert f"{letter}. forest" in question and answer == f"{letter}. forest"
            elif question.startswith(("Is this", "Does this image show")):
                asked = re.search(r" an? (.+) scene", question).group(1)
                assert (answer == "Yes.") == (asked == "forest")
                if asked != "forest":
                    assert answer.startswith("No.") and "forest" in answer.lower()
            else:
                assert "forest" in answer.lower()


def test_diagnosis_wording_and_display_names() -> None:
    pairs = classification_questions(
        "pneumonia", ["normal", "pneumonia"], random.Random(1), DIAGNOSIS, 3
    )
    assert all("scene" not in q for q, _ in pairs)
    assert display_name("River_Lake") == "river lake"
