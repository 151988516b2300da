import random

import numpy as np

from vitp_core.corpus.questions.spectral import spectral_questions


def test_ndvi_and_ndwi_shares() -> None:
    red = np.full((10, 10), 0.1)
    green = np.full((10, 10), 0.1)
    nir = np.full((10, 10), 0.5)
    nir[:, :3] = 0.02  # 30% water: green > nir, low NDVI
    image = np.stack([red, green, nir])
    answers = {}
    for seed in range(20):
        for q, a in spectral_questions(image, ["Red", "Green", "NIR"], random.Random(seed), 4):
            answers[q] = a
    assert (
        answers["What share of this image has dense green vegetation (NDVI above 0.4)?"]
        == "About 70% of the image."
    )
    assert (
        answers["How much of this image is open water according to the NDWI?"]
        == "About 30% of the image."
    )
    assert any(a == "3 bands: red, green and near-infrared." for a in answers.values())
