"""A JSONL corpus as an offsets index: records parsed when they are used, not kept.

:func:`scan_corpus` reads a corpus once at start-up to find its bad records (named by
file and line, as before) and keeps, per usable record, only where it lies: its source,
byte offset and line number (three ``int64`` per record, repeats included). A
:class:`RecordIndex` parses a record from its line on access, in whichever process asks
(DataLoader workers open their own file handles), so no worker holds the corpus as
Python objects.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

from vitp_core.corpus.reader import (
    CorpusEntry,
    parse_line,
    read_mixture,
    repeat_positions,
    scan_source,
)
from vitp_core.corpus.records import BadRecordError, InstructionRecord

__all__ = ["RecordIndex", "scan_corpus"]


class RecordIndex(Sequence[InstructionRecord]):
    """Records of a corpus by position, parsed on access.

    Args:
        entries: The corpus sources.
        table: ``(N, 3)`` ``int64``: source number, byte offset and line number of each item.

    Raises on access:
        BadRecordError: When the line no longer parses (the file changed since the scan).
    """

    def __init__(self, entries: Sequence[CorpusEntry], table: np.ndarray) -> None:
        self.entries = list(entries)
        self.table = np.asarray(table, dtype=np.int64).reshape(-1, 3)
        self._handles: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.table)

    @overload
    def __getitem__(self, index: int) -> InstructionRecord: ...

    @overload
    def __getitem__(self, index: slice) -> RecordIndex: ...

    def __getitem__(self, index: int | slice) -> InstructionRecord | RecordIndex:
        if isinstance(index, slice):
            return RecordIndex(self.entries, self.table[index])
        source, offset, line = self.table[index].tolist()
        handle = self._handles.get(source)
        if handle is None:
            handle = self._handles[source] = open(self.entries[source].annotation, "rb")
        handle.seek(offset)
        item = parse_line(self.entries[source], handle.readline(), line)
        if isinstance(item, BadRecordError):
            raise item
        return item

    def __iter__(self) -> Iterator[InstructionRecord]:
        for index in range(len(self)):
            yield self[index]

    def subset(self, positions: Sequence[int] | np.ndarray) -> RecordIndex:
        """The records at ``positions``, in that order."""
        return RecordIndex(self.entries, self.table[np.asarray(positions, dtype=np.int64)])

    def __getstate__(self) -> dict[str, Any]:
        return {"entries": self.entries, "table": self.table}  # file handles stay behind

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.entries, self.table, self._handles = state["entries"], state["table"], {}

    def __del__(self) -> None:
        for handle in getattr(self, "_handles", {}).values():
            handle.close()


def scan_corpus(
    path: str | Path, seed: int = 0, allowed_roots: Sequence[str | Path] = ()
) -> tuple[RecordIndex, list[str], list[BadRecordError]]:
    """Check every record of a corpus once and index the usable ones.

    The usable records, their repeats and their order are those of
    :func:`vitp_core.corpus.reader.read_corpus` with the same seed; records with a
    missing image are bad records too.

    Args:
        path: A ``.jsonl`` corpus or a mixture ``.json``.
        seed: Seed of the subsampling for fractional ``repeat_time``.
        allowed_roots: Folders images may come from besides each source's root.

    Returns:
        The index, the id of each indexed item, and the bad records with reasons.
    """
    rng = random.Random(seed)
    entries = read_mixture(path, allowed_roots)
    tables, ids, bad = [], [], []
    for number, entry in enumerate(entries):
        scan = scan_source(entry)
        bad.extend(scan.bad)
        positions = repeat_positions(len(scan.offsets), entry.repeat_time, rng)
        rows = [(number, scan.offsets[p], scan.lines[p]) for p in positions]
        tables.append(np.asarray(rows, dtype=np.int64).reshape(-1, 3))
        ids.extend(scan.ids[p] for p in positions)
    table = np.concatenate(tables) if tables else np.zeros((0, 3), dtype=np.int64)
    return RecordIndex(entries, table), ids, bad
