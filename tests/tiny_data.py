"""Tiny seeded data and settings shared by the tests (importable as ``tiny_data``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

#: The smallest ViTP module architecture the tests build (ViT 1 x 32, LM 1 x 32).
TINY_ARCHITECTURE: dict = {
    "vit_kwargs": {"depth": 1, "embed_dim": 32, "num_heads": 2},
    "img_size": 32,
    "lm_config": {
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "intermediate_size": 64,
    },
}

COLOURS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}
#: Questions whose wording alone decides the answer (``answer_from="text"``).
TEXT_QUESTIONS = {
    "red": "Name a warm colour.",
    "green": "Name a leafy colour.",
    "blue": "Name a sky colour.",
}


def write_tiny_corpus(
    folder: Path, n: int = 12, size: int = 32, seed: int = 0, answer_from: str = "image"
) -> Path:
    """Write ``n`` seeded solid-colour PNGs and a one-question JSONL corpus about their colour.

    ``answer_from="image"``: only the pixels tell the answer. ``"text"``: the question's
    wording decides the answer and the image's colour is unrelated to it.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    lines = []
    names = sorted(COLOURS)
    for i in range(n):
        name = names[i % len(names)]
        said = names[int(rng.integers(len(names)))] if answer_from == "text" else name
        question = "What colour is this?" if answer_from == "image" else TEXT_QUESTIONS[said]
        answer = name if answer_from == "image" else said
        pixels = np.clip(
            np.array(COLOURS[name])[None, None] + rng.normal(0, 10, (size, size, 3)), 0, 255
        ).astype(np.uint8)
        Image.fromarray(pixels).save(folder / "images" / f"{i:03d}.png")
        record = {
            "id": f"tiny-{i:03d}",
            "image": f"images/{i:03d}.png",
            "conversations": [
                {"from": "human", "value": f"<image>\n{question}"},
                {"from": "gpt", "value": answer},
            ],
            "meta": {"source": "tiny", "task": "classification", "label": name},
        }
        lines.append(json.dumps(record))
    corpus = folder / "corpus.jsonl"
    corpus.write_text("\n".join(lines) + "\n")
    return corpus


#: Overrides that make `vitp pretrain` tiny and fast in tests.
TINY_PRETRAIN_ARGS = [
    "--model.vit_kwargs",
    '{"depth": 2, "embed_dim": 32, "num_heads": 2}',
    "--model.img_size",
    "32",
    "--model.lm_config",
    '{"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,'
    ' "num_key_value_heads": 1, "intermediate_size": 64}',
    "--data.batch_size",
    "4",
    "--trainer.enable_progress_bar",
    "false",
]
