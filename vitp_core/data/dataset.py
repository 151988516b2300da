"""A map-style dataset of instruction records that survives bad records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from torch.utils.data import Dataset

from vitp_core.corpus.images import ImageReadError
from vitp_core.corpus.records import BadRecordError, InstructionRecord
from vitp_core.data.processor import ProcessedSample, SampleProcessor

__all__ = ["InstructionDataset", "OnBadRecord"]

OnBadRecord = Literal["skip", "raise"]


class InstructionDataset(Dataset):
    """Records processed on access.

    A record that fails to load (missing or corrupt image, too long, wrong bands) is
    returned as its :class:`BadRecordError` with ``on_bad_record="skip"``, so that the
    collate function can drop and count it; with ``"raise"`` the error stops the run.

    Args:
        records: Parsed records.
        processor: The model's sample processor.
        on_bad_record: ``"skip"`` (count and go on) or ``"raise"``.
    """

    def __init__(
        self,
        records: Sequence[InstructionRecord],
        processor: SampleProcessor,
        on_bad_record: OnBadRecord = "skip",
    ) -> None:
        if on_bad_record not in ("skip", "raise"):
            raise ValueError(f"on_bad_record must be 'skip' or 'raise', got {on_bad_record!r}.")
        self.records = list(records)
        self.processor = processor
        self.on_bad_record = on_bad_record

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> ProcessedSample | BadRecordError:
        record = self.records[index]
        try:
            return self.processor(record)
        except BadRecordError as err:
            error = err
        except ImageReadError as err:
            error = BadRecordError(record.source, f"image unusable: {err}")
        if self.on_bad_record == "raise":
            raise error
        return error
