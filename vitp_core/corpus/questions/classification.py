"""Questions about an image-level label: open question, multiple choice, yes/no.

A :class:`Phrasebook` holds the wording of one domain (scenes, diagnoses); the label
alone decides every answer, and yes/no questions about a wrong class always get "no".
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from vitp_core.corpus.phrasing import article

__all__ = ["DIAGNOSIS", "SCENE", "Phrasebook", "classification_questions", "display_name"]

QA = tuple[str, str]


def display_name(name: str) -> str:
    """A class name as read in a sentence: ``"river_lake"`` -> ``"river lake"``."""
    return str(name).replace("_", " ").strip().lower()


@dataclass(frozen=True)
class Phrasebook:
    """Wording of classification questions for one domain.

    ``{label}`` stands for the class name, ``{Label}`` for it capitalised and
    ``{a_label}`` for it with its indefinite article ("an industry", "a forest"); every
    template list offers several phrasings.
    """

    open_questions: tuple[str, ...]
    answers: tuple[str, ...]
    yes_no_questions: tuple[str, ...]
    choice_question: str


SCENE = Phrasebook(
    open_questions=(
        "What kind of scene is this?",
        "Classify this scene.",
        "Which land-use category best describes this image?",
        "What does this aerial image show?",
    ),
    answers=("It is {a_label} scene.", "This is {a_label} scene.", "{Label}."),
    yes_no_questions=("Is this {a_label} scene?", "Does this image show {a_label} scene?"),
    choice_question="Which category best describes the scene?",
)

DIAGNOSIS = Phrasebook(
    open_questions=(
        "What is the diagnosis for this image?",
        "Which finding does this scan show?",
        "Classify this medical image.",
    ),
    answers=("The finding is {label}.", "{Label}.", "This image shows {label}."),
    yes_no_questions=("Does this image show {label}?", "Is the finding {label}?"),
    choice_question="Which finding does this image show?",
)


def _fill(template: str, label: str) -> str:
    return template.format(label=label, Label=label[:1].upper() + label[1:], a_label=article(label))


def _open(label: str, others: list[str], book: Phrasebook, rng: random.Random) -> QA:
    return rng.choice(book.open_questions), _fill(rng.choice(book.answers), label)


def _choice(label: str, others: list[str], book: Phrasebook, rng: random.Random) -> QA | None:
    if not others:
        return None
    options = [label, *rng.sample(others, min(3, len(others)))]
    rng.shuffle(options)
    letters = "ABCD"
    listed = " ".join(f"{letters[i]}. {o}" for i, o in enumerate(options))
    answer = letters[options.index(label)]
    return f"{book.choice_question} {listed} Answer with the letter.", f"{answer}. {label}"


def _yes_no(label: str, others: list[str], book: Phrasebook, rng: random.Random) -> QA:
    asked = rng.choice(others) if others and rng.random() < 0.6 else label
    question = _fill(rng.choice(book.yes_no_questions), asked)
    if asked == label:
        return question, "Yes."
    return question, "No. " + _fill(rng.choice(book.answers), label)


def classification_questions(
    label: str,
    class_names: Sequence[str],
    rng: random.Random,
    book: Phrasebook = SCENE,
    n_questions: int = 2,
) -> list[QA]:
    """Question/answer pairs about an image of class ``label``.

    Args:
        label: The image's class (display form).
        class_names: All classes of the dataset (display form), for distractors.
        rng: Seeded generator choosing kinds, phrasings and distractors.
        book: Wording of the domain.
        n_questions: Number of pairs (at most 3, one per kind).

    Returns:
        Pairs in random order: an open question, multiple choice and/or yes/no.
    """
    others = sorted({c for c in class_names if c != label})
    kinds = [_open, _choice, _yes_no]
    rng.shuffle(kinds)
    pairs = []
    for kind in kinds:
        pair = kind(label, others, book, rng)
        if pair is not None:
            pairs.append(pair)
        if len(pairs) == n_questions:
            break
    return pairs
