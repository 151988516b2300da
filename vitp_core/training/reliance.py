"""Image reliance: does the language model read the image, or answer from the text?

ViTP shapes the ViT only through what the language model reads from it: when the LM
answers equally well with another record's image, the ViT receives no image-specific
gradient and learns nothing useful. :class:`ImageRelianceMonitor` measures this in every
run, on a fixed set of records held out of training:

* ``own``: the answer loss with each record's own image;
* ``other``: the same answers with another record's image (drawn once, at random,
  preferring a record with a different label where labels are known);
* ``gap = other - own``.

Losses are in nats per answer: each answer's token losses are summed, then averaged over
answers. A per-token mean would be diluted by template tokens that the text decides.
A 4-way choice read perfectly from the image is worth ``ln 4 = 1.39`` nats per answer.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn

from vitp_core.corpus.images import ImageReadError
from vitp_core.corpus.records import BadRecordError, InstructionRecord
from vitp_core.data.collate import collate_samples
from vitp_core.data.processor import ProcessedSample, SampleProcessor
from vitp_core.vlm.model import ViTPModel

__all__ = [
    "ImageReliance",
    "ImageRelianceMonitor",
    "measure_image_reliance",
    "pair_other_images",
    "record_label",
]

log = logging.getLogger(__name__)

#: What the run prints when the gap stays near zero after warm-up.
NOT_READING_ADVICE = (
    "the language model is not reading the images, so the ViT learns little from this run. "
    "Start from an aligned model: train the projector and LM on a frozen, pretrained ViT "
    "first (examples/pretrain/stage1_align.yaml), then continue with everything training "
    "and VRL on (examples/pretrain/stage2_domain.yaml, model.init_from: the first run)."
)


@dataclass(frozen=True)
class ImageReliance:
    """One image-reliance measurement.

    Attributes:
        own: Mean answer loss with each record's own image (nats per answer).
        other: Mean answer loss of the same answers with another record's image.
        gap: ``other - own`` (nats per answer; about 0 when the LM ignores the image).
        answers: Answers scored.
        records: Records scored.
        same_label_share: Share of pairs whose two records have the same label, among
            pairs where both labels are known (``None`` when no labels are known).
        step: Optimizer step of the measurement.
    """

    own: float
    other: float
    gap: float
    answers: int
    records: int
    same_label_share: float | None
    step: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values, with their unit."""
        return {**asdict(self), "unit": "nats per answer"}


def record_label(record: InstructionRecord) -> str | None:
    """The label of a record for pairing: ``meta["label"]``, else its sorted ``classes``."""
    label = record.meta.get("label")
    if label is not None:
        return str(label)
    classes = record.meta.get("classes")
    if isinstance(classes, list) and classes:
        return "|".join(sorted(str(c) for c in classes))
    return None


def pair_other_images(
    shapes: Sequence[tuple[int, ...]], labels: Sequence[str | None], seed: int = 0
) -> list[int | None]:
    """For each record, another record whose image(s) can replace its own.

    The partner must have pixel tiles of the same shape (so that the visual tokens fill
    the same placeholders); among those, a record with a different label is preferred
    when labels are known. Partners are drawn at random (never the neighbour in file
    order: corpora are often sorted by class).

    Args:
        shapes: Shape of each record's stacked pixel tiles ``(t, C, S, S)``.
        labels: Each record's label, or ``None``.
        seed: Seed of the draw.

    Returns:
        Partner index per record, ``None`` when no other record has the same tile shape.
    """
    rng = random.Random(seed)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for index, shape in enumerate(shapes):
        by_shape.setdefault(tuple(shape), []).append(index)
    partners: list[int | None] = []
    for index, shape in enumerate(shapes):
        others = [j for j in by_shape[tuple(shape)] if j != index]
        different = [j for j in others if labels[index] is None or labels[j] != labels[index]]
        pool = different or others
        partners.append(rng.choice(pool) if pool else None)
    return partners


def _answer_losses(
    model: ViTPModel, samples: Sequence[ProcessedSample], pad_token_id: int, batch_size: int
) -> torch.Tensor:
    """Summed NLL of every answer of ``samples``, in sample order ``(A,)``."""
    device = next(model.parameters()).device
    losses = []
    for start in range(0, len(samples), batch_size):
        batch = collate_samples(samples[start : start + batch_size], pad_token_id).batch
        assert batch is not None
        losses.append(model.answer_nll(batch.to(device)).nll.cpu())
    return torch.cat(losses) if losses else torch.zeros(0)


def measure_image_reliance(
    model: ViTPModel,
    samples: Sequence[ProcessedSample],
    partners: Sequence[int | None],
    pad_token_id: int,
    batch_size: int = 16,
) -> tuple[float, float, int]:
    """Mean answer loss with the own image and with the partner's image.

    Args:
        model: The VLM (measured in eval mode, without VRL; its mode is restored).
        samples: Processed held-out records.
        partners: Partner of each sample (:func:`pair_other_images`); ``None`` skips it.
        pad_token_id: Padding id of the tokenizer.
        batch_size: Records per forward pass.

    Returns:
        ``(own, other, answers)``: losses in nats per answer, and the answers scored.
    """
    kept = [i for i, j in enumerate(partners) if j is not None]
    own = [samples[i] for i in kept]
    other = [replace(samples[i], pixel_values=samples[partners[i]].pixel_values) for i in kept]
    was_training = model.training
    model.eval()
    try:
        own_losses = _answer_losses(model, own, pad_token_id, batch_size)
        other_losses = _answer_losses(model, other, pad_token_id, batch_size)
    finally:
        model.train(was_training)
    if own_losses.numel() == 0:
        return math.nan, math.nan, 0
    return float(own_losses.mean()), float(other_losses.mean()), int(own_losses.numel())


def _process(
    records: Sequence[InstructionRecord], processor: SampleProcessor
) -> tuple[list[ProcessedSample], list[str | None]]:
    samples, labels = [], []
    for record in records:
        try:
            samples.append(processor(record))
        except (BadRecordError, ImageReadError) as err:
            log.warning("image reliance: skipping held-out record %s", err)
            continue
        labels.append(record_label(record))
    return samples, labels


class ImageRelianceMonitor(L.Callback):
    """Measure image reliance on held-out records during and at the end of training.

    The records come from the data module's ``held_out_records`` (never trained on).
    Each measurement goes to the logger (``reliance/own``, ``reliance/other``,
    ``reliance/gap``: ``metrics.csv``), the progress bar (``gap``), and the run's history,
    which the run artifacts plot and write to ``run_summary.json`` and the export sidecar.

    Args:
        every_n_steps: Measure every this many optimizer steps (0: only at the end).
        min_gap: Gap (nats per answer) below which, after warm-up, the run warns that the
            language model is not reading the images.
        warmup_steps: Steps before the warning can fire; ``None`` takes the model's
            learning-rate warm-up (``warmup_ratio`` x total steps).
        batch_size: Records per forward pass of the measurement.
        seed: Seed of the pairing with other records' images.
        enabled: Switch the measurement off.
    """

    def __init__(
        self,
        every_n_steps: int = 50,
        min_gap: float = 0.05,
        warmup_steps: int | None = None,
        batch_size: int = 16,
        seed: int = 0,
        enabled: bool = True,
    ) -> None:
        if every_n_steps < 0:
            raise ValueError(f"reliance.every_n_steps must be >= 0, got {every_n_steps}.")
        self.every_n_steps = every_n_steps
        self.min_gap = min_gap
        self.warmup_steps = warmup_steps
        self.batch_size = batch_size
        self.seed = seed
        self.enabled = enabled
        self.history: list[ImageReliance] = []
        self._samples: list[ProcessedSample] | None = None
        self._labels: list[str | None] = []
        self._partners: list[int | None] = []
        self._warned = False

    # -- state ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The measurement history, kept in checkpoints so a resumed run plots all of it."""
        return {"history": [asdict(r) for r in self.history], "warned": self._warned}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the history on resume."""
        self.history = [ImageReliance(**r) for r in state_dict.get("history", [])]
        self._warned = bool(state_dict.get("warned", False))

    @property
    def latest(self) -> ImageReliance | None:
        """The last measurement, if any."""
        return self.history[-1] if self.history else None

    # -- measuring -----------------------------------------------------------------------

    def _prepare(self, trainer: L.Trainer, pl_module: L.LightningModule) -> bool:
        if self._samples is not None:
            return bool(self._samples)
        records = list(getattr(trainer.datamodule, "held_out_records", None) or [])
        processor = getattr(pl_module, "processor", None)
        if not records or processor is None:
            log.warning("image reliance: no held-out records, so it is not measured.")
            self._samples = []
            return False
        self._samples, self._labels = _process(records, processor)
        shapes = [tuple(s.pixel_values.shape) for s in self._samples]
        self._partners = pair_other_images(shapes, self._labels, self.seed)
        return any(p is not None for p in self._partners)

    def _same_label_share(self) -> float | None:
        pairs = [
            (self._labels[i], self._labels[j])
            for i, j in enumerate(self._partners)
            if j is not None and self._labels[i] is not None and self._labels[j] is not None
        ]
        return sum(a == b for a, b in pairs) / len(pairs) if pairs else None

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule) -> ImageReliance | None:
        """Measure now (once per optimizer step; later calls at the same step reuse it)."""
        step = int(trainer.global_step)
        if self.latest is not None and self.latest.step == step:
            return self.latest
        if not self.enabled or not trainer.is_global_zero or not self._prepare(trainer, pl_module):
            return None
        tokenizer = pl_module.processor.tokenizer
        own, other, answers = measure_image_reliance(
            pl_module.model, self._samples, self._partners, tokenizer.pad_token_id, self.batch_size
        )
        result = ImageReliance(
            own=own,
            other=other,
            gap=other - own,
            answers=answers,
            records=sum(p is not None for p in self._partners),
            same_label_share=self._same_label_share(),
            step=step,
        )
        self.history.append(result)
        if trainer.logger is not None:
            values = {"reliance/own": own, "reliance/other": other, "reliance/gap": other - own}
            trainer.logger.log_metrics(values, step=step)
        self._check(trainer, pl_module, result)
        return result

    def _warmup_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> int:
        if self.warmup_steps is not None:
            return self.warmup_steps
        ratio = float(getattr(pl_module.hparams, "warmup_ratio", 0.1) or 0.0)
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else 0
        return math.ceil(ratio * total)

    def is_reading(self, result: ImageReliance) -> bool:
        """Whether a measurement shows the LM reading the image (gap >= ``min_gap``)."""
        return result.gap >= self.min_gap

    def _check(
        self, trainer: L.Trainer, pl_module: L.LightningModule, result: ImageReliance
    ) -> None:
        if self._warned or self.is_reading(result):
            return
        if result.step < max(self._warmup_end(trainer, pl_module), 1):
            return
        self._warned = True
        rank_zero_warn(
            f"image reliance at step {result.step}: answers are only {result.gap:.3f} nats "
            f"per answer more likely with each record's own image than with another "
            f"record's (below {self.min_gap}): {NOT_READING_ADVICE}"
        )

    # -- hooks ---------------------------------------------------------------------------

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        """Measure every ``every_n_steps`` optimizer steps; show the gap in the progress bar."""
        step = trainer.global_step
        if self.every_n_steps and step > 0 and step % self.every_n_steps == 0:
            self.measure(trainer, pl_module)
        if self.latest is not None:
            pl_module.log("gap", self.latest.gap, prog_bar=True, logger=False)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Measure at the end of training (reused by the run artifacts)."""
        self.measure(trainer, pl_module)
