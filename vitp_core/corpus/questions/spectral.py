"""Questions computed from the bands of a multispectral chip (no labels needed).

When a chip has named ``red`` and ``nir`` bands the NDVI, ``(nir - red) / (nir + red)``,
gives vegetation shares; with ``green`` and ``nir`` the NDWI, ``(green - nir) /
(green + nir)``, gives open-water shares (McFeeters 1996). The band list itself is a
fact of the file. Every answer is computed from the pixel values of the chip.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from vitp_core.corpus.phrasing import join_names, percent_phrase

__all__ = ["spectral_questions"]

QA = tuple[str, str]
_BAND_WORDS = {
    "nir": "near-infrared",
    "swir1": "short-wave infrared 1",
    "swir2": "short-wave infrared 2",
}


def _index(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Normalised difference ``(a - b) / (a + b)``, 0 where both are 0."""
    total = a + b
    return np.divide(a - b, total, out=np.zeros_like(total), where=total != 0)


def spectral_questions(
    image: np.ndarray, band_names: Sequence[str], rng: random.Random, n_questions: int = 2
) -> list[QA]:
    """Question/answer pairs about band indices of a ``(C, H, W)`` chip.

    Args:
        image: Chip pixels (any consistent scale), shape ``(C, H, W)``.
        band_names: Name of each band (``red``, ``green``, ``nir``...).
        rng: Seeded generator.
        n_questions: Maximum number of pairs.
    """
    lowered = [b.lower() for b in band_names]
    bands = {name: image[i].astype(np.float32) for i, name in enumerate(lowered)}
    words = [_BAND_WORDS.get(b, b) for b in lowered]
    pairs: list[QA] = [
        (
            rng.choice(
                ["Which spectral bands does this image have?", "List the bands of this image."]
            ),
            f"{len(words)} bands: {join_names(words)}.",
        )
    ]
    if "red" in bands and "nir" in bands:
        ndvi = _index(bands["nir"], bands["red"])
        share = float((ndvi > 0.4).mean())
        pairs.append(
            (
                "What share of this image has dense green vegetation (NDVI above 0.4)?",
                f"{percent_phrase(share).capitalize()} of the image." if share else "None of it.",
            )
        )
        pairs.append(("What is the mean NDVI of this image?", f"About {float(ndvi.mean()):.2f}."))
    if "green" in bands and "nir" in bands:
        share = float((_index(bands["green"], bands["nir"]) > 0).mean())
        pairs.append(
            (
                "How much of this image is open water according to the NDWI?",
                f"{percent_phrase(share).capitalize()} of the image." if share else "None of it.",
            )
        )
    rng.shuffle(pairs)
    return pairs[:n_questions]
