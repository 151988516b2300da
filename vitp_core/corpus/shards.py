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

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vitp_core.atomic_io import atomic_write_json, atomic_write_text
from vitp_core.corpus.reader import (
    CorpusEntry,
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


def optimize_corpus(
    corpus: str | Path,
    out_dir: str | Path,
    *,
    seed: int = 0,
    allowed_roots: tuple[str | Path, ...] | list[str | Path] = (),
    chunk_bytes: str | int | None = "64MB",
    chunk_size: int | None = None,
    check_images: bool = True,
) -> ShardManifest:
    """Write a corpus as LitData chunks for streaming (see the module docs).

    Args:
        corpus: A ``.jsonl`` corpus or a mixture ``.json``.
        out_dir: A new or empty folder.
        seed: Seed of the fractional ``repeat_time`` draw and of the item order.
        allowed_roots: Folders images may come from besides each source's root.
        chunk_bytes: Most bytes per chunk (LitData's ``chunk_bytes``), e.g. ``"64MB"``.
        chunk_size: Most items per chunk instead (overrides ``chunk_bytes``).
        check_images: Leave out records whose images are missing (as training would).

    Returns:
        The manifest written.

    Raises:
        FileExistsError: When ``out_dir`` holds anything.
        ValueError: When no record of the corpus is usable.
    """
    from litdata.streaming.writer import BinaryWriter

    out = Path(out_dir)
    _refuse_existing(out)
    entries = read_mixture(corpus, allowed_roots)
    rng = random.Random(seed)
    columns: list[np.ndarray] = []
    sources, bad = [], []
    first_record = 0
    for number, entry in enumerate(entries):
        scan = scan_source(entry, check_images)
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
    out.mkdir(parents=True, exist_ok=True)
    writer = BinaryWriter(
        str(out), chunk_size=chunk_size, chunk_bytes=None if chunk_size else chunk_bytes
    )
    handles = [open(entry.annotation, "rb") for entry in entries]
    try:
        for index, (source, offset, line, record) in enumerate(table.tolist()):
            handle = handles[source]
            handle.seek(offset)
            text = handle.readline().decode("utf-8")
            writer.add_item(index, {"text": text, "source": source, "line": line, "record": record})
        writer.done()
        writer.merge()
    finally:
        for handle in handles:
            handle.close()
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
