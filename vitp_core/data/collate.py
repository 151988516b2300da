"""Collation: pad to the longest sequence of the batch, never to a fixed length."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from vitp_core.corpus.records import BadRecordError
from vitp_core.data.processor import ProcessedSample
from vitp_core.vlm.model import VisualBatch

__all__ = ["CollatedBatch", "collate_samples"]


@dataclass
class CollatedBatch:
    """A model batch plus the records that were skipped while loading it.

    Attributes:
        batch: The padded model inputs (``None`` when every record was skipped).
        skipped: The bad records met in this batch, with file, line and reason.
        record_ids: Ids of the records in the batch.
    """

    batch: VisualBatch | None
    skipped: list[BadRecordError] = field(default_factory=list)
    record_ids: list[str] = field(default_factory=list)


def collate_samples(
    items: Sequence[ProcessedSample | BadRecordError], pad_token_id: int
) -> CollatedBatch:
    """Pad samples into one batch; bad records pass through to be counted.

    Args:
        items: Processed samples or the errors of records that failed to load.
        pad_token_id: Id written into padding positions.

    Returns:
        The batch; sequences are right-padded to the longest one.
    """
    samples = [s for s in items if isinstance(s, ProcessedSample)]
    skipped = [s for s in items if isinstance(s, BadRecordError)]
    if not samples:
        return CollatedBatch(None, skipped)
    length = max(len(s.input_ids) for s in samples)
    input_ids = torch.full((len(samples), length), pad_token_id, dtype=torch.long)
    labels = torch.full((len(samples), length), -100, dtype=torch.long)
    attention_mask = torch.zeros((len(samples), length), dtype=torch.long)
    for row, sample in enumerate(samples):
        n = len(sample.input_ids)
        input_ids[row, :n] = sample.input_ids
        labels[row, :n] = sample.labels
        attention_mask[row, :n] = 1
    tile_sample = torch.cat(
        [torch.full((len(s.pixel_values),), i, dtype=torch.long) for i, s in enumerate(samples)]
    )
    batch = VisualBatch(
        input_ids=input_ids,
        labels=labels,
        attention_mask=attention_mask,
        pixel_values=torch.cat([s.pixel_values for s in samples]),
        tile_sample=tile_sample,
    )
    return CollatedBatch(batch, skipped, [s.record_id for s in samples])
