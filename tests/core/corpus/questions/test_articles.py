"""Generated questions read as English: "an industry scene", never "a industry scene"."""

import random
import re
from pathlib import Path

import pytest

from vitp_core.corpus.phrasing import article
from vitp_core.corpus.questions.classification import SCENE, classification_questions

QUESTIONS_DIR = Path(__file__).parents[4] / "vitp_core" / "corpus" / "questions"


@pytest.mark.parametrize(
    ("noun", "expected"),
    [
        ("industry scene", "an industry scene"),
        ("airport", "an airport"),
        ("Overpass", "an Overpass"),
        ("river lake", "a river lake"),
        ("university campus", "a university campus"),
        ("one-way street", "a one-way street"),
        ("hour", "an hour"),
        ("", ""),
    ],
)
def test_article(noun: str, expected: str) -> None:
    assert article(noun) == expected


def test_scene_questions_use_the_right_article() -> None:
    classes = ["airport", "industry", "field", "overpass", "residential", "university"]
    texts = []
    for seed in range(60):
        for label in classes:
            for pair in classification_questions(label, classes, random.Random(seed), SCENE, 3):
                texts += pair
    assert any("an industry scene" in t for t in texts)
    assert any("an airport scene" in t for t in texts)
    assert any("a university scene" in t for t in texts)
    wrong = [t for t in texts if re.search(r"\ba (airport|industry|overpass)\b", t)]
    wrong += [t for t in texts if re.search(r"\ban (field|residential|university)\b", t)]
    assert not wrong, wrong[:3]


def test_no_template_puts_a_fixed_article_before_a_placeholder() -> None:
    fixed = []
    for path in [*QUESTIONS_DIR.glob("*.py"), QUESTIONS_DIR.parent / "phrasing.py"]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\b[Aa]n? \{", line):
                fixed.append(f"{path.name}:{number}: {line.strip()}")
    assert not fixed, fixed
