"""Streaming a shard folder (``vitp corpus optimize``) with LitData.

Training reads the shards through ``litdata.StreamingDataset``: chunks are read lazily,
each DDP rank (across nodes) and each DataLoader worker gets a disjoint share of every
epoch's shuffled order, and ``litdata.StreamingDataLoader`` keeps the exact stream
position. :class:`ResumableStreamLoader` reports that position as of the last batch the
model trained on (Lightning fetches a batch ahead), so a checkpoint taken mid-epoch
resumes without repeating or skipping a record; LitData restripes the rest of the epoch
when the number of ranks or workers changed.

Held-out records (image reliance) and validation records are chosen per *record* (every
repeat goes with it), from the record numbers in ``vitp_items.npy``, without reading the
chunks: the held-out ones by a seeded draw, the validation ones by a seeded hash. The
training stream passes over them (:class:`ExcludedItem`, dropped by the collate function
without being counted as bad).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from litdata import StreamingDataLoader, StreamingDataset
from torch.utils.data import Dataset

from vitp_core.corpus.reader import CorpusEntry, parse_line
from vitp_core.corpus.records import BadRecordError, InstructionRecord
from vitp_core.corpus.shards import ITEMS_FILE, ShardManifest, read_manifest
from vitp_core.data.dataset import OnBadRecord, load_sample
from vitp_core.data.processor import ProcessedSample, SampleProcessor

__all__ = [
    "ExcludedItem",
    "InstructionStream",
    "ResumableStreamLoader",
    "ShardCorpus",
    "ShardItems",
    "ShardRecordLoader",
]

_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class ExcludedItem:
    """A stream item held out of training (validation or image reliance): not a bad record."""

    record: int


def _unit_hash(records: np.ndarray, seed: int) -> np.ndarray:
    """A seeded hash of record numbers, uniform in ``[0, 1)`` (splitmix64)."""
    x = np.asarray(records, dtype=np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) & _MASK64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@dataclass(frozen=True)
class ShardSplit:
    """Which records leave training: a seeded draw (held out) and a seeded hash (validation).

    Attributes:
        held_out: Record numbers held out for image reliance.
        val_fraction: Share of the other records used for validation.
        seed: Seed of the hash.
    """

    held_out: frozenset[int]
    val_fraction: float
    seed: int

    def is_val(self, records: np.ndarray) -> np.ndarray:
        """Boolean mask of validation records (never a held-out one)."""
        if self.val_fraction <= 0:
            return np.zeros(len(records), dtype=bool)
        return (_unit_hash(records, self.seed) < self.val_fraction) & ~self.is_held_out(records)

    def is_held_out(self, records: np.ndarray) -> np.ndarray:
        """Boolean mask of held-out records."""
        return np.isin(
            records, np.fromiter(self.held_out, dtype=np.int64, count=len(self.held_out))
        )

    def excluded(self, record: int) -> bool:
        """Whether one record stays out of training."""
        return bool(record in self.held_out or self.is_val(np.asarray([record]))[0])


@dataclass
class ShardRecordLoader:
    """Turns a stored item into a processed sample (or its error, or an exclusion).

    Attributes:
        entries: The corpus sources recorded in the manifest.
        processor: The model's sample processor.
        on_bad_record: ``"skip"`` or ``"raise"``.
        max_image_pixels: Largest width x height of an image.
        split: Records to pass over (training); ``None`` passes over nothing.
    """

    entries: list[CorpusEntry]
    processor: SampleProcessor
    on_bad_record: OnBadRecord = "skip"
    max_image_pixels: int | None = None
    split: ShardSplit | None = None

    def record(self, item: dict[str, Any]) -> InstructionRecord | BadRecordError:
        """The record of a stored item, named by its source file and line."""
        return parse_line(self.entries[int(item["source"])], item["text"], int(item["line"]))

    def __call__(self, item: dict[str, Any]) -> ProcessedSample | BadRecordError | ExcludedItem:
        """Load one item; a bad record is returned (``skip``) or raised (``raise``)."""
        if self.split is not None and self.split.excluded(int(item["record"])):
            return ExcludedItem(int(item["record"]))
        record = self.record(item)
        if isinstance(record, BadRecordError):
            if self.on_bad_record == "raise":
                raise record
            return record
        return load_sample(record, self.processor, self.on_bad_record, self.max_image_pixels)


class InstructionStream(StreamingDataset):
    """The training stream: LitData's ``StreamingDataset`` over a shard folder.

    Args:
        folder: A folder written by ``vitp corpus optimize``.
        loader: Turns stored items into samples (with the training split).
        seed: Seed of LitData's per-epoch shuffle.
        shuffle: Shuffle chunks and items each epoch.
        drop_last: LitData's ``drop_last`` (``None``: on under DDP, so every rank gets
            the same number of batches).
    """

    def __init__(
        self,
        folder: str | Path,
        loader: ShardRecordLoader,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool | None = None,
    ) -> None:
        super().__init__(str(folder), shuffle=shuffle, seed=seed, drop_last=drop_last)
        self.loader = loader

    def __getitem__(self, index: Any) -> ProcessedSample | BadRecordError | ExcludedItem:
        return self.loader(super().__getitem__(index))


class ShardItems(Dataset):
    """Chosen items of a shard folder by position (validation, probes), map-style.

    Args:
        folder: The shard folder.
        positions: Item positions to serve, in order.
        loader: Turns stored items into samples.
    """

    def __init__(
        self, folder: str | Path, positions: np.ndarray, loader: ShardRecordLoader
    ) -> None:
        self.folder = str(folder)
        self.positions = np.asarray(positions, dtype=np.int64)
        self.loader = loader
        self._stream: StreamingDataset | None = None

    def __len__(self) -> int:
        return len(self.positions)

    def item(self, index: int) -> dict[str, Any]:
        """The stored item at ``positions[index]``."""
        if self._stream is None:
            # one item at a time: LitData's default decodes a window of items around each
            # read, made for streaming in order, wasted on scattered reads
            self._stream = StreamingDataset(self.folder, batch_decode=0)
        return self._stream[int(self.positions[index])]

    def __getitem__(self, index: int) -> ProcessedSample | BadRecordError | ExcludedItem:
        return self.loader(self.item(index))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_stream": None}


class ShardCorpus:
    """A shard folder's manifest, record numbers and split.

    Args:
        folder: A folder written by ``vitp corpus optimize``.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.manifest: ShardManifest = read_manifest(self.folder)
        self.entries = self.manifest.entries()
        #: Record number of each item (memory-mapped).
        self.items: np.ndarray = np.load(self.folder / ITEMS_FILE, mmap_mode="r")
        self._cached: tuple[ShardSplit, np.ndarray, np.ndarray] | None = None

    def split(self, reliance_records: int, val_fraction: float, seed: int) -> ShardSplit:
        """Hold out up to ``reliance_records`` records (at most a fifth, none below 10)."""
        total = self.manifest.records
        count = min(reliance_records, total // 5) if total >= 10 else 0
        held = frozenset(random.Random(seed).sample(range(total), count)) if count else frozenset()
        return ShardSplit(held, val_fraction, seed)

    def positions(self, split: ShardSplit, role: str) -> np.ndarray:
        """Item positions of ``role``: ``"train"``, ``"val"`` or ``"held_out"`` (first repeat)."""
        held, val = self._masks(split)
        if role == "train":
            return np.flatnonzero(~held & ~val)
        if role == "val":
            return np.flatnonzero(val)
        _, first = np.unique(np.asarray(self.items)[held], return_index=True)
        return np.flatnonzero(held)[np.sort(first)]

    def _masks(self, split: ShardSplit) -> tuple[np.ndarray, np.ndarray]:
        """Held-out and validation masks over the items, computed once per split."""
        if self._cached is None or self._cached[0] != split:
            items = np.asarray(self.items)
            self._cached = (split, split.is_held_out(items), split.is_val(items))
        return self._cached[1], self._cached[2]


class ResumableStreamLoader(StreamingDataLoader):
    """LitData's ``StreamingDataLoader`` whose state is that of the last *trained* batch.

    Lightning saves a stateful loader's ``state_dict`` in every checkpoint, but its fit
    loop has already fetched the next batch by then; this loader remembers the position
    after each batch it handed out and reports the one of ``trained_batches()`` batches.

    Args:
        trained_batches: Batches of the current epoch the model has trained on (``None``:
            the loader's own count).
    """

    def __init__(
        self, *args: Any, trained_batches: Callable[[], int | None] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.trained_batches = trained_batches
        self._positions: dict[int, tuple[int, int]] = {}

    def __iter__(self) -> Any:
        size = max(self.batch_size or 1, 1)
        # where this pass starts: the restored position, or the start of a new epoch
        start = (
            (self._num_samples_yielded_streaming, self._latest_worker_idx)
            if self.restore
            else (0, 0)
        )
        self._positions = {start[0] // size: start}
        for batch in super().__iter__():
            done = self._num_samples_yielded_streaming // size
            self._positions[done] = (self._num_samples_yielded_streaming, self._latest_worker_idx)
            self._positions.pop(done - 16, None)
            yield batch

    def state_dict(self) -> dict[str, Any]:
        """The stream position after the last trained batch."""
        trained = self.trained_batches() if self.trained_batches is not None else None
        position = self._positions.get(trained) if trained is not None else None
        if position is None:
            return copy.deepcopy(super().state_dict())
        now = (self._num_samples_yielded_streaming, self._latest_worker_idx)
        self._num_samples_yielded_streaming, self._latest_worker_idx = position
        try:
            return copy.deepcopy(super().state_dict())
        finally:
            self._num_samples_yielded_streaming, self._latest_worker_idx = now
