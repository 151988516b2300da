"""Image reliance: the product's measure of whether the LM reads the image."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pytest
import torch
from tiny_data import write_tiny_corpus
from tiny_runs import TINY_MODEL as TINY_RUN_MODEL

from vitp_core.data.collate import collate_samples
from vitp_core.data.datamodule import InstructionDataModule
from vitp_core.training.module import ViTPPretrainModule
from vitp_core.training.reliance import ImageRelianceMonitor, pair_other_images

TINY_MODEL = {**TINY_RUN_MODEL, "vit_kwargs": {"depth": 2, "embed_dim": 32, "num_heads": 2}}


def _train(
    corpus: Path, steps: int, lr: float
) -> tuple[ImageRelianceMonitor, InstructionDataModule]:
    L.seed_everything(0, verbose=False)
    module = ViTPPretrainModule(**{**TINY_MODEL, "lr": lr})
    data = InstructionDataModule(
        corpus=str(corpus), processor=module.processor, batch_size=8, reliance_records=12
    )
    monitor = ImageRelianceMonitor(every_n_steps=steps // 2)
    L.Trainer(
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[monitor],
    ).fit(module, datamodule=data)
    return monitor, data


@pytest.mark.slow
def test_gap_is_clearly_positive_when_only_the_pixels_decide(tmp_path: Path) -> None:
    monitor, data = _train(write_tiny_corpus(tmp_path, n=60), steps=150, lr=6e-3)
    held_out = {r.id for r in data.held_out_records}
    assert len(held_out) == 12 and not held_out & {r.id for r in data.train_records}
    final = monitor.latest
    assert final is not None and final.step == 150 and len(monitor.history) == 2
    # Text alone cannot tell the colour (ln 3 = 1.1 nats); a partner always has another.
    assert final.same_label_share == 0.0
    assert final.own < 0.5 and final.gap > 1.0, final


def test_gap_is_near_zero_when_the_text_decides(tmp_path: Path) -> None:
    monitor, _ = _train(write_tiny_corpus(tmp_path, n=60, answer_from="text"), 150, 6e-3)
    final = monitor.latest
    assert final is not None and final.own < 1.0
    assert abs(final.gap) < 0.05


def test_pairs_prefer_another_label_and_the_same_tile_shape() -> None:
    shapes = [(1, 3, 8, 8)] * 4 + [(2, 3, 8, 8)]
    partners = pair_other_images(shapes, ["a", "a", "a", "b", "a"], seed=0)
    assert partners[:3] == [3, 3, 3]  # the only other label
    assert partners[3] in (0, 1, 2)
    assert partners[4] is None  # no other record has two tiles
    assert pair_other_images([(1,)], [None]) == [None]


def test_answer_nll_sums_each_answer(tiny_corpus: Path) -> None:
    module = ViTPPretrainModule(**TINY_MODEL)
    data = InstructionDataModule(corpus=str(tiny_corpus), processor=module.processor)
    data.setup()
    samples = [module.processor(r) for r in data.train_records[:3]]
    batch = collate_samples(samples, module.tokenizer.pad_token_id).batch
    module.eval()
    answers = module.model.answer_nll(batch)
    assert answers.sample.tolist() == [0, 1, 2]  # one answer per record
    with torch.no_grad():
        mean_loss = float(module.model(batch).loss)
    supervised = int((batch.labels[:, 1:] != -100).sum())
    assert math.isclose(float(answers.nll.sum()) / supervised, mean_loss, rel_tol=1e-4)
