"""A map-style dataset of instruction records that survives bad records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch.utils.data import Dataset

from vitp_core.corpus.images import ImageReadError, image_pixel_limit
from vitp_core.corpus.records import BadRecordError, InstructionRecord
from vitp_core.data.processor import ProcessedSample, SampleProcessor

__all__ = ["InstructionDataset", "OnBadRecord", "check_finite_sample", "load_sample"]

OnBadRecord = Literal["skip", "raise"]


def check_finite_sample(sample: ProcessedSample, record: InstructionRecord) -> ProcessedSample:
    """Return ``sample`` if its pixel values are all finite.

    The images themselves are checked when read; this catches what processing adds
    (e.g. a normalisation with a zero standard deviation).

    Raises:
        BadRecordError: Naming the record's file and line.
    """
    pixels = sample.pixel_values
    if pixels.is_floating_point() and not bool(torch.isfinite(pixels).all()):
        count = int((~torch.isfinite(pixels)).sum())
        raise BadRecordError(
            record.source,
            f"{count} non-finite pixel value(s) (NaN/Inf) after normalisation: check the data "
            "mean/std (a std of 0 divides by zero).",
        )
    return sample


def load_sample(
    record: InstructionRecord,
    processor: SampleProcessor,
    on_bad_record: OnBadRecord = "skip",
    max_image_pixels: int | None = None,
) -> ProcessedSample | BadRecordError:
    """Process one record, or return (``"skip"``) / raise (``"raise"``) why it is unusable.

    Raises:
        BadRecordError: With ``on_bad_record="raise"``, naming the record's file and line.
    """
    try:
        with image_pixel_limit(max_image_pixels):
            return check_finite_sample(processor(record), record)
    except BadRecordError as err:
        error = err
    except ImageReadError as err:
        error = BadRecordError(record.source, f"image unusable: {err}")
    if on_bad_record == "raise":
        raise error
    return error


class InstructionDataset(Dataset):
    """Records processed on access.

    A record that fails to load (missing, corrupt, oversized or non-finite image, too
    long, wrong bands) is returned as its :class:`BadRecordError` with
    ``on_bad_record="skip"``, so that the collate function can drop and count it; with
    ``"raise"`` the error stops the run.

    Args:
        records: Records: a list, or a lazy sequence that parses each on access
            (:class:`vitp_core.data.record_index.RecordIndex`).
        processor: The model's sample processor.
        on_bad_record: ``"skip"`` (count and go on) or ``"raise"``.
        max_image_pixels: Largest width x height of an image; larger ones are bad
            records, refused from their header before decoding (default:
            ``$VITP_MAX_IMAGE_PIXELS`` or 150 megapixels).
    """

    def __init__(
        self,
        records: Sequence[InstructionRecord],
        processor: SampleProcessor,
        on_bad_record: OnBadRecord = "skip",
        max_image_pixels: int | None = None,
    ) -> None:
        if on_bad_record not in ("skip", "raise"):
            raise ValueError(f"on_bad_record must be 'skip' or 'raise', got {on_bad_record!r}.")
        if max_image_pixels is not None and max_image_pixels <= 0:
            raise ValueError(f"max_image_pixels must be positive, got {max_image_pixels}.")
        self.records = records if isinstance(records, Sequence) else list(records)
        self.processor = processor
        self.on_bad_record = on_bad_record
        self.max_image_pixels = max_image_pixels

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> ProcessedSample | BadRecordError:
        try:
            record = self.records[index]  # a lazy index parses here
        except BadRecordError as error:
            if self.on_bad_record == "raise":
                raise
            return error
        return load_sample(record, self.processor, self.on_bad_record, self.max_image_pixels)
