"""End to end: ViTP pretraining teaches the VLM to answer from the image, not the text."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import lightning as L
import torch
from tiny_data import write_tiny_corpus

from vitp_core.corpus.reader import read_corpus
from vitp_core.data.collate import collate_samples
from vitp_core.data.datamodule import InstructionDataModule
from vitp_core.training.module import ViTPPretrainModule


def _answer_loss(module: ViTPPretrainModule, samples: list) -> float:
    batch = collate_samples(samples, module.tokenizer.pad_token_id).batch
    with torch.no_grad():
        return float(module.model(batch).loss)


def test_answers_depend_on_the_image(tmp_path: Path) -> None:
    """Same question for every image; only the pixels say red, green or blue."""
    corpus = write_tiny_corpus(tmp_path, n=48)
    L.seed_everything(0, verbose=False)
    module = ViTPPretrainModule(
        vit_kwargs={"depth": 2, "embed_dim": 32, "num_heads": 2},
        img_size=32,
        lm_config={
            "hidden_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "intermediate_size": 64,
        },
        lr=6e-3,
    )
    data = InstructionDataModule(
        corpus=str(corpus), processor=module.processor, batch_size=8, seed=0
    )
    L.Trainer(
        max_steps=150,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(module, datamodule=data)
    module.eval()
    samples = [module.processor(record) for record in read_corpus(corpus)[0]]
    shifted = [
        dataclasses.replace(s, pixel_values=samples[(i + 1) % len(samples)].pixel_values)
        for i, s in enumerate(samples)
    ]
    right, wrong = _answer_loss(module, samples), _answer_loss(module, shifted)
    # Text alone cannot tell the colour (ln 3 on its first byte); the image can.
    assert right < 0.3
    assert wrong > 3 * right
