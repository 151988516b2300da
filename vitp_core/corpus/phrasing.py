"""Small helpers shared by the question templates: seeded choice, lists, numbers."""

from __future__ import annotations

import random
from collections.abc import Sequence

__all__ = ["article", "join_names", "percent_phrase", "record_rng", "share_percent"]


def record_rng(seed: int, key: str) -> random.Random:
    """A random generator fixed by the corpus seed and a record key.

    String seeds are hashed with SHA-512 by :class:`random.Random`, so the same
    ``(seed, key)`` gives the same questions on every machine and Python run.
    """
    return random.Random(f"{seed}:{key}")


def join_names(names: Sequence[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


#: Words spelt with a vowel but said with a consonant sound, and the reverse.
_SAID_WITH_CONSONANT = ("uni", "use", "usu", "uti", "eu", "one", "once", "ur")
_SAID_WITH_VOWEL = ("hour", "honest", "honour", "honor", "heir")


def article(noun: str) -> str:
    """The noun phrase with its indefinite article: ``"an airplane"``, ``"a building"``.

    Goes by sound for the common exceptions (``"a university"``, ``"a one-way street"``,
    ``"an hour"``); an empty noun stays empty.
    """
    word = noun.strip().lower()
    if not word:
        return noun
    vowel_sound = word[0] in "aeiou"
    if word.startswith(_SAID_WITH_CONSONANT):
        vowel_sound = False
    elif word.startswith(_SAID_WITH_VOWEL):
        vowel_sound = True
    return ("an " if vowel_sound else "a ") + noun


def share_percent(fraction: float) -> int:
    """A share of the image rounded to a whole percent, never 0 for a present class."""
    return max(1, round(100 * fraction)) if fraction > 0 else 0


def percent_phrase(fraction: float) -> str:
    """``"about 35%"``, or ``"less than 1%"`` for traces."""
    value = 100 * fraction
    return "less than 1%" if 0 < value < 0.5 else f"about {share_percent(fraction)}%"
