"""Turning instruction records into batches for the VLM."""

from vitp_core.data.collate import collate_samples
from vitp_core.data.datamodule import InstructionDataModule
from vitp_core.data.processor import ProcessedSample, SampleProcessor
from vitp_core.data.tiling import dynamic_tiles

__all__ = [
    "InstructionDataModule",
    "ProcessedSample",
    "SampleProcessor",
    "collate_samples",
    "dynamic_tiles",
]
