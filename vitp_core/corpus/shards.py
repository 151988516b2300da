"""Corpus shards: a mixture written once as LitData chunks, streamed at any scale.

``vitp corpus optimize MIXTURE --out DIR`` reads every source of a corpus (a ``.jsonl``
or a mixture ``.json``) once, checks each record as training would (JSON, schema, image
paths inside the allowed roots, images present), applies each source's ``repeat_time``
with the same seeded draw as :func:`vitp_core.corpus.reader.read_corpus`, shuffles the
items with the seed and writes them with LitData's ``BinaryWriter`` (the writer behind
``litdata.optimize``) as chunks plus LitData's ``index.json``. Training streams them with
``litdata.StreamingDataset`` (:mod:`vitp_core.data.streaming`): lazily, a disjoint share per
rank and worker, resumable mid-epoch.

Each item keeps its raw JSON line, the source it came from (an index into the
manifest's sources, which carry image root, allowed roots, ``max_dynamic_patch`` and
``data_augment``), its line number and its record number (the same for every repeat of
a record), so that a record that fails later is named by its source file and line and
held-out records take their repeats with them. Images are referenced by absolute path,
as the builders reference them; they are not copied.

Besides LitData's files, ``DIR`` holds:

* ``vitp_shards.json``: the manifest (format, seed, sources with their settings and counts).
* ``vitp_items.npy``: the record number of every item, in item order (``int64``), read
  memory-mapped to find held-out and validation items without reading the chunks.
* ``bad_records.jsonl``: the records left out, each with ``source`` (file:line) and ``reason``.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from vitp_core.atomic_io import atomic_write_json, atomic_write_text
from vitp_core.corpus.reader import (
    CorpusEntry,
    SourceScan,
    read_mixture,
    repeat_positions,
    scan_source,
)
from vitp_core.corpus.records import BadRecordError, RecordSource

__all__ = [
    "BAD_RECORDS_FILE",
    "ITEMS_FILE",
    "MANIFEST_FILE",
    "ShardManifest",
    "is_shard_folder",
    "optimize_corpus",
    "read_bad_records",
    "read_manifest",
]

MANIFEST_FILE = "vitp_shards.json"
ITEMS_FILE = "vitp_items.npy"
BAD_RECORDS_FILE = "bad_records.jsonl"
_FORMAT = "vitp-shards"
_VERSION = 1


@dataclass
class ShardManifest:
    """What ``vitp_shards.json`` records.

    Attributes:
        corpus: The corpus the shards were written from.
        seed: Seed of the repeat draw and of the item order.
        items: Items written (records with their repeats).
        records: Distinct records written.
        bad_records: Records left out (see ``bad_records.jsonl``).
        sources: Per source: ``name``, ``annotation``, ``root``, ``allowed_roots``,
            ``repeat_time``, ``max_dynamic_patch``, ``data_augment``, ``records``,
            ``items``, ``bad``.
    """

    corpus: str
    seed: int
    items: int
    records: int
    bad_records: int
    sources: list[dict[str, Any]] = field(default_factory=list)

    def entries(self) -> list[CorpusEntry]:
        """The sources as :class:`CorpusEntry` (records parse against these)."""
        return [
            CorpusEntry(
                name=s["name"],
                annotation=Path(s["annotation"]),
                root=Path(s["root"]),
                repeat_time=float(s["repeat_time"]),
                max_dynamic_patch=s["max_dynamic_patch"],
                data_augment=bool(s["data_augment"]),
                allowed_roots=tuple(Path(r) for r in s["allowed_roots"]),
            )
            for s in self.sources
        ]


def is_shard_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by :func:`optimize_corpus`."""
    path = Path(path)
    return path.is_dir() and (path / MANIFEST_FILE).is_file()


def read_manifest(folder: str | Path) -> ShardManifest:
    """Read and check ``vitp_shards.json`` of a shard folder.

    Raises:
        ValueError: When the folder is not a complete vitp shard folder, naming what is missing.
    """
    folder = Path(folder)
    path = folder / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable vitp shard manifest ({err}).") from err
    if data.get("format") != _FORMAT or data.get("version") != _VERSION:
        raise ValueError(
            f"{path}: format {data.get('format')!r} version {data.get('version')!r}, expected "
            f"{_FORMAT!r} version {_VERSION}: write the shards again with `vitp corpus optimize`."
        )
    for name in ("index.json", ITEMS_FILE):
        if not (folder / name).is_file():
            raise ValueError(
                f"{folder}: {name} is missing, the shards are incomplete: write them again "
                "with `vitp corpus optimize`."
            )
    fields = {k: data[k] for k in ("corpus", "seed", "items", "records", "bad_records", "sources")}
    return ShardManifest(**fields)


def read_bad_records(folder: str | Path) -> list[BadRecordError]:
    """The records :func:`optimize_corpus` left out, with file, line and reason."""
    path = Path(folder) / BAD_RECORDS_FILE
    if not path.is_file():
        return []
    errors = []
    for line in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        source = RecordSource(item["path"], int(item["line"])) if item["path"] else None
        errors.append(BadRecordError(source, item["reason"]))
    return errors


def _refuse_existing(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(
            f"{out} exists and is not empty: give a new folder (shards are never written over "
            "what is there)."
        )


#: Bytes of a source scanned by one task of the parallel check (a few per worker).
_SCAN_BYTES = 8 << 20


def _line_ranges(path: Path, parts: int) -> list[tuple[int, int, int]]:
    """Cut a file into up to ``parts`` byte ranges at line starts.

    Returns:
        ``(start, stop, first line number)`` of each range (1-based line numbers, blank
        lines counted, as :func:`vitp_core.corpus.reader.iter_lines` numbers them).
    """
    size = path.stat().st_size
    cuts = [0]
    with open(path, "rb") as handle:
        for part in range(1, parts):
            handle.seek(max(size * part // parts, cuts[-1]))
            handle.readline()  # on to the start of the next line
            if cuts[-1] < handle.tell() < size:
                cuts.append(handle.tell())
        cuts.append(size)
        ranges, line = [], 1
        for start, stop in itertools.pairwise(cuts):
            ranges.append((start, stop, line))
            handle.seek(start)
            left = stop - start
            while left:
                block = handle.read(min(left, 16 << 20))
                if not block:
                    break
                line += block.count(b"\n")
                left -= len(block)
    return ranges


def _scan_sources(entries: list[CorpusEntry], check_images: bool, workers: int) -> list[SourceScan]:
    """Check every line of every source once, ``workers`` processes sharing the lines.

    The scan of a source is the same whatever the number of workers: its ranges are
    scanned apart and joined in file order.
    """
    if workers <= 1:
        return [scan_source(entry, check_images) for entry in entries]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    tasks = []
    for number, entry in enumerate(entries):
        parts = max(workers, -(-entry.annotation.stat().st_size // _SCAN_BYTES))
        for start, stop, line in _line_ranges(entry.annotation, parts):
            tasks.append((number, (entry, check_images, start, stop, line)))
    scans = [SourceScan() for _ in entries]
    # the platform's default start method, as torch's DataLoader workers use
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context()) as pool:
        futures = [(number, pool.submit(scan_source, *task)) for number, task in tasks]
        for number, future in futures:  # in file order
            part = future.result()
            scans[number].offsets += part.offsets
            scans[number].lines += part.lines
            scans[number].ids += part.ids
            scans[number].bad += part.bad
    return scans


def _stored_item(handle: BinaryIO, source: int, offset: int, line: int, record: int) -> dict:
    """The item stored for a record: its JSON line (read at ``offset``) and its origin."""
    handle.seek(offset)
    text = handle.readline().decode("utf-8")
    return {"text": text, "source": source, "line": line, "record": record}


class _ItemBlocks:
    """LitData ``optimize`` function: the stored items of one block of the item table.

    Pickled to each LitData worker; it memory-maps the table and keeps its sources open.

    Args:
        table: ``.npy`` of the item table (source, byte offset, line, record), in item order.
        annotations: The JSONL file of each source.
        block: Items per block (block ``k`` holds items ``k * block`` to ``(k + 1) * block``).
    """

    def __init__(self, table: Path, annotations: list[Path], block: int) -> None:
        self.table = table
        self.annotations = annotations
        self.block = block
        self._rows: np.ndarray | None = None
        self._handles: dict[int, BinaryIO] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_rows": None, "_handles": {}}

    def __call__(self, block: int) -> Any:
        if self._rows is None:
            self._rows = np.load(self.table, mmap_mode="r")
        rows = np.asarray(self._rows[block * self.block : (block + 1) * self.block])
        for source, offset, line, record in rows.tolist():
            yield _stored_item(self._handle(source), source, offset, line, record)

    def _handle(self, source: int) -> BinaryIO:
        handle = self._handles.get(source)
        if handle is None:
            handle = self._handles[source] = open(self.annotations[source], "rb")
        return handle


def _write_serial(
    out: Path, table: np.ndarray, annotations: list[Path], chunk_size: int | None, chunk_bytes: Any
) -> None:
    """Write the items in this process with LitData's ``BinaryWriter``."""
    from litdata.streaming.writer import BinaryWriter

    out.mkdir(parents=True, exist_ok=True)
    writer = BinaryWriter(
        str(out), chunk_size=chunk_size, chunk_bytes=None if chunk_size else chunk_bytes
    )
    handles = [open(path, "rb") for path in annotations]
    try:
        for index, (source, offset, line, record) in enumerate(table.tolist()):
            writer.add_item(index, _stored_item(handles[source], source, offset, line, record))
        writer.done()
        writer.merge()
    finally:
        for handle in handles:
            handle.close()


def _write_parallel(
    out: Path,
    table: np.ndarray,
    annotations: list[Path],
    chunk_size: int | None,
    chunk_bytes: Any,
    workers: int,
) -> None:
    """Write the items with ``litdata.optimize``, ``workers`` processes, in table order.

    ``keep_data_ordered=True`` gives each worker a contiguous run of blocks, processed in
    order, and LitData merges the workers' chunks in worker order, so the items land in
    table order; :func:`_check_order` verifies it (``vitp_items.npy`` relies on it).
    """
    import multiprocessing
    import tempfile

    from litdata import optimize

    block = -(-len(table) // workers)
    block = max(1, min(block, 100_000))
    method = multiprocessing.get_start_method(allow_none=True)
    with tempfile.TemporaryDirectory(prefix="vitp_optimize_") as scratch:
        path = Path(scratch) / "table.npy"
        np.save(path, table)
        try:
            optimize(
                _ItemBlocks(path, annotations, block),
                list(range(-(-len(table) // block))),
                str(out),
                chunk_size=chunk_size,
                chunk_bytes=None if chunk_size else chunk_bytes,
                num_workers=workers,
                keep_data_ordered=True,
                reorder_files=False,
                start_method=method or multiprocessing.get_start_method(),
                verbose=False,
            )
        finally:  # litdata sets the start method of the whole process
            multiprocessing.set_start_method(method, force=True)
    _check_order(out, table)


def _check_order(out: Path, table: np.ndarray) -> None:
    """Check that the chunks hold the table's items in order (first and last of each chunk).

    Raises:
        RuntimeError: When they do not (a LitData that merges workers' chunks otherwise).
    """
    from litdata import StreamingDataset

    chunks = json.loads((out / "index.json").read_text(encoding="utf-8"))["chunks"]
    sizes = [int(c["chunk_size"]) for c in chunks]
    wrong = sum(sizes) != len(table)
    if not wrong:
        stream = StreamingDataset(str(out))
        ends = np.cumsum(sizes)
        for position in sorted({*(ends - np.asarray(sizes)), *(ends - 1)}):
            item = stream[int(position)]
            expected = table[position]
            if [item["source"], item["line"], item["record"]] != expected[[0, 2, 3]].tolist():
                wrong = True
                break
    if wrong:
        raise RuntimeError(
            f"{out}: the parallel writers' chunks are not in item order (this LitData "
            "merges them otherwise): write the shards again with --workers 1."
        )


def optimize_corpus(
    corpus: str | Path,
    out_dir: str | Path,
    *,
    seed: int = 0,
    allowed_roots: tuple[str | Path, ...] | list[str | Path] = (),
    chunk_bytes: str | int | None = "64MB",
    chunk_size: int | None = None,
    check_images: bool = True,
    workers: int = 1,
) -> ShardManifest:
    """Write a corpus as LitData chunks for streaming (see the module docs).

    With ``workers`` above 1, the records are checked by that many processes (each a
    share of the lines of every source) and written by ``litdata.optimize`` with that
    many workers; the items, their order, the bad records and the manifest are the same
    as with one worker (only the chunk boundaries differ).

    Args:
        corpus: A ``.jsonl`` corpus or a mixture ``.json``.
        out_dir: A new or empty folder.
        seed: Seed of the fractional ``repeat_time`` draw and of the item order.
        allowed_roots: Folders images may come from besides each source's root.
        chunk_bytes: Most bytes per chunk (LitData's ``chunk_bytes``), e.g. ``"64MB"``.
        chunk_size: Most items per chunk instead (overrides ``chunk_bytes``).
        check_images: Leave out records whose images are missing (as training would).
        workers: Processes that check and write the records.

    Returns:
        The manifest written.

    Raises:
        FileExistsError: When ``out_dir`` holds anything.
        ValueError: When no record of the corpus is usable, or ``workers`` is below 1.
    """
    if workers < 1:
        raise ValueError(f"workers must be 1 or more, got {workers}.")
    out = Path(out_dir)
    _refuse_existing(out)
    entries = read_mixture(corpus, allowed_roots)
    scans = _scan_sources(entries, check_images, workers)
    rng = random.Random(seed)
    columns: list[np.ndarray] = []
    sources, bad = [], []
    first_record = 0
    for number, (entry, scan) in enumerate(zip(entries, scans, strict=True)):
        positions = np.asarray(repeat_positions(len(scan.offsets), entry.repeat_time, rng))
        positions = positions.astype(np.int64).reshape(-1)
        offsets = np.asarray(scan.offsets, dtype=np.int64)
        lines = np.asarray(scan.lines, dtype=np.int64)
        columns.append(
            np.stack(
                [
                    np.full(len(positions), number, dtype=np.int64),
                    offsets[positions] if len(positions) else positions,
                    lines[positions] if len(positions) else positions,
                    first_record + positions,
                ],
                axis=1,
            )
        )
        first_record += len(scan.offsets)
        bad.extend(scan.bad)
        sources.append(
            {
                **{k: v for k, v in asdict(entry).items() if k not in ("annotation", "root")},
                # absolute, so the shards train from any working folder
                "annotation": str(entry.annotation.resolve()),
                "root": str(entry.root.resolve()),
                "allowed_roots": [str(Path(r).resolve()) for r in entry.allowed_roots],
                "records": len(scan.offsets),
                "items": len(positions),
                "bad": len(scan.bad),
            }
        )
    table = np.concatenate(columns) if columns else np.zeros((0, 4), dtype=np.int64)
    if not len(table):
        raise ValueError(f"{corpus}: no usable record ({len(bad)} bad): nothing to write.")
    table = table[np.random.default_rng(seed).permutation(len(table))]
    annotations = [entry.annotation for entry in entries]
    if workers > 1 and len(table) > 1:
        _write_parallel(out, table, annotations, chunk_size, chunk_bytes, workers)
    else:
        _write_serial(out, table, annotations, chunk_size, chunk_bytes)
    np.save(out / ITEMS_FILE, table[:, 3])
    lines_out = [
        json.dumps(
            {
                "source": str(e.source) if e.source else "",
                "path": e.source.path if e.source else "",
                "line": e.source.line if e.source else 0,
                "reason": e.reason,
            }
        )
        for e in bad
    ]
    atomic_write_text(out / BAD_RECORDS_FILE, "".join(line + "\n" for line in lines_out))
    manifest = ShardManifest(
        corpus=str(Path(corpus).resolve()),
        seed=seed,
        items=len(table),
        records=first_record,
        bad_records=len(bad),
        sources=sources,
    )
    atomic_write_json(
        out / MANIFEST_FILE, {"format": _FORMAT, "version": _VERSION, **asdict(manifest)}
    )
    return manifest
