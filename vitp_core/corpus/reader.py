"""Reading corpora: one JSONL file, or a mixture file of several JSONLs with weights.

A mixture file is a JSON object like InternVL's and ViTP's ``ft_data_*.json``::

    {"rsscn7": {"annotation": "rsscn7/corpus.jsonl", "root": "rsscn7/images",
                "repeat_time": 2, "data_augment": true, "max_dynamic_patch": 12},
     "dubai":  {"annotation": "dubai/corpus.jsonl", "root": "dubai", "repeat_time": 0.5}}

Relative ``annotation`` and ``root`` paths are resolved against the mixture file's
folder. Images must lie under the source's ``root``; other folders are allowed by an
``"allowed_roots"`` list in the entry, an ``image_roots.json`` beside the JSONL (vitp's
builders write it), the readers' ``allowed_roots`` argument or ``$VITP_IMAGE_ROOTS``
(:mod:`vitp_core.corpus.image_roots`); an image elsewhere is a bad record.
``repeat_time`` above 1 repeats the source (the fraction part sampled), below
1 subsamples it, with a fixed seed. A JSONL corpus alone uses its own folder as root.

Two per-source settings mean what they mean in the official mixtures:

* ``max_dynamic_patch``: the source's tile budget with dynamic tiling, in place of the
  model's ``max_tiles`` (ViTP's mixtures set 12 for most remote-sensing and medical
  sets against a global 6); a record with several images divides it among them.
* ``data_augment``: every tile of the source's records is re-encoded as JPEG at a
  quality drawn from 75-100 (InternVL's ``build_transform(is_train=True)``).

Both ride on each record (:attr:`InstructionRecord.max_dynamic_patch`,
:attr:`InstructionRecord.data_augment`) to the sample processor. ``length`` and other
keys of the official files are accepted and ignored.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vitp_core.corpus.image_roots import environment_roots, read_recorded_roots
from vitp_core.corpus.records import BadRecordError, InstructionRecord, RecordSource, parse_record

__all__ = [
    "CorpusEntry",
    "SourceScan",
    "iter_corpus",
    "iter_lines",
    "parse_line",
    "read_corpus",
    "read_mixture",
    "repeat_positions",
    "scan_source",
]


@dataclass(frozen=True)
class CorpusEntry:
    """One source of a corpus: a JSONL file, its image root, repeat factor and settings.

    Attributes:
        name: Source name (the mixture key).
        annotation: The JSONL file.
        root: Folder that relative image paths are resolved against.
        repeat_time: Repeat (above 1) or subsampling (below 1) factor.
        max_dynamic_patch: Tile budget per record with dynamic tiling; ``None`` keeps the
            model's ``max_tiles``.
        data_augment: Random JPEG re-encode (quality 75-100) of every tile.
        allowed_roots: Folders besides ``root`` that images may come from.
    """

    name: str
    annotation: Path
    root: Path
    repeat_time: float = 1.0
    max_dynamic_patch: int | None = None
    data_augment: bool = False
    allowed_roots: tuple[Path, ...] = ()


def _source_settings(path: Path, name: str, item: dict) -> dict:
    """Check and return the per-source ``max_dynamic_patch`` and ``data_augment``."""
    budget = item.get("max_dynamic_patch")
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, int) or budget < 1
    ):
        raise ValueError(
            f"{path}: source {name!r}: max_dynamic_patch must be a whole number of tiles "
            f">= 1, got {budget!r}."
        )
    augment = item.get("data_augment", False)
    if not isinstance(augment, bool):
        raise ValueError(
            f"{path}: source {name!r}: data_augment must be true or false, got {augment!r}."
        )
    return {"max_dynamic_patch": budget, "data_augment": augment}


def _entry_roots(
    path: Path, name: str, item: dict, annotation: Path, extra: Sequence[str | Path]
) -> tuple[Path, ...]:
    """Allowed image folders of a source: its entry's, its corpus folder's, the caller's."""
    listed = item.get("allowed_roots", [])
    if not isinstance(listed, list) or not all(isinstance(r, str) and r for r in listed):
        raise ValueError(
            f"{path}: source {name!r}: allowed_roots must be a list of folder paths, "
            f"got {listed!r}."
        )
    own = tuple((path.parent / r).resolve() for r in listed)
    return _common_roots(annotation, extra) + own


def _common_roots(annotation: Path, extra: Sequence[str | Path]) -> tuple[Path, ...]:
    recorded = read_recorded_roots(annotation.parent)
    return recorded + tuple(Path(r) for r in extra) + environment_roots()


def read_mixture(path: str | Path, allowed_roots: Sequence[str | Path] = ()) -> list[CorpusEntry]:
    """Return the sources of a corpus path (a mixture ``.json`` or a single ``.jsonl``).

    Args:
        path: A mixture ``.json``, a ``.jsonl``, or a shard folder written by ``vitp corpus
            optimize`` (its recorded sources, with the roots allowed when it was written).
        allowed_roots: Folders every source may read images from besides its root.

    Raises:
        FileNotFoundError: When the path or a listed annotation file is missing.
        ValueError: When the mixture file is not a JSON object of sources.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"corpus {path} not found.")
    if path.is_dir():
        from vitp_core.corpus.shards import is_shard_folder, read_manifest

        if is_shard_folder(path):  # written by `vitp corpus optimize`: the sources it read
            return read_manifest(path).entries()
        raise ValueError(
            f"corpus {path} is a folder: give its .jsonl file, a mixture .json "
            f"(e.g. {path / 'corpus.jsonl'}) or a folder written by `vitp corpus optimize`."
        )
    if path.suffix == ".jsonl":
        roots = _common_roots(path, allowed_roots)
        return [CorpusEntry(path.stem, path, path.parent, allowed_roots=roots)]
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path}:{err.lineno}: mixture file is not valid JSON ({err.msg})."
        ) from err
    if not isinstance(spec, dict) or not spec:
        raise ValueError(f"{path}: a mixture file is a JSON object of named sources.")
    entries = []
    for name, item in spec.items():
        if not isinstance(item, dict) or "annotation" not in item:
            raise ValueError(f"{path}: source {name!r} needs an 'annotation' path.")
        annotation = (path.parent / item["annotation"]).resolve()
        if not annotation.exists():
            raise FileNotFoundError(f"{path}: source {name!r}: {annotation} not found.")
        root = (path.parent / item.get("root", Path(item["annotation"]).parent)).resolve()
        repeat = float(item.get("repeat_time", 1.0))
        settings = _source_settings(path, name, item)
        roots = _entry_roots(path, name, item, annotation, allowed_roots)
        entries.append(CorpusEntry(name, annotation, root, repeat, **settings, allowed_roots=roots))
    return entries


def parse_line(
    entry: CorpusEntry, text: str | bytes, number: int
) -> InstructionRecord | BadRecordError:
    """Parse line ``number`` (1-based) of ``entry``'s JSONL, or say why it is unusable.

    The record gets its source's name (``meta.source``) and per-source settings.
    """
    source = RecordSource(str(entry.annotation), number)
    try:
        record = parse_record(json.loads(text), entry.root, source, entry.allowed_roots)
    except json.JSONDecodeError as err:
        return BadRecordError(source, f"not valid JSON ({err.msg} at column {err.colno}).")
    except UnicodeDecodeError as err:
        return BadRecordError(source, f"not UTF-8 text ({err.reason} at byte {err.start}).")
    except BadRecordError as err:
        return err
    record.meta.setdefault("source", entry.name)
    record.max_dynamic_patch = entry.max_dynamic_patch
    record.data_augment = entry.data_augment
    return record


def iter_lines(
    entry: CorpusEntry, start: int = 0, stop: int | None = None, first_line: int = 1
) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(line number, byte offset, raw line)`` of every non-blank line of a source.

    Args:
        entry: The source.
        start: Byte offset of the first line to read (the start of a line).
        stop: Lines starting at or after this byte offset are not read (``None``: to the end).
        first_line: The 1-based number of the line at ``start``.
    """
    with open(entry.annotation, "rb") as handle:
        handle.seek(start)
        offset, number = start, first_line
        while stop is None or offset < stop:
            line = handle.readline()
            if not line:
                break
            if line.strip():
                yield number, offset, line
            offset += len(line)
            number += 1


def _missing_image(record: InstructionRecord) -> BadRecordError | None:
    for path in record.images:
        if not path.is_file():
            return BadRecordError(record.source, f"image {path} not found.")
    return None


@dataclass
class SourceScan:
    """Where a source's usable records lie, and why the others are unusable.

    Attributes:
        offsets: Byte offset of each usable record's line.
        lines: Its 1-based line number.
        ids: Its record id.
        bad: The unusable records, named by file and line.
    """

    offsets: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    bad: list[BadRecordError] = field(default_factory=list)


def scan_source(
    entry: CorpusEntry,
    check_images: bool = True,
    start: int = 0,
    stop: int | None = None,
    first_line: int = 1,
) -> SourceScan:
    """Check every line of a source (or of a byte range of it) once; keep the usable ones.

    Args:
        entry: The source.
        check_images: Count records whose images are missing as bad (as training would).
        start: Byte offset of the first line to check (the start of a line).
        stop: Lines starting at or after this byte offset are left (``None``: to the end).
        first_line: The 1-based number of the line at ``start``.
    """
    scan = SourceScan()
    for number, offset, raw in iter_lines(entry, start, stop, first_line):
        item = parse_line(entry, raw, number)
        if not isinstance(item, BadRecordError) and check_images:
            item = _missing_image(item) or item
        if isinstance(item, BadRecordError):
            scan.bad.append(item)
        else:
            scan.offsets.append(offset)
            scan.lines.append(number)
            scan.ids.append(item.id)
    return scan


def _iter_jsonl(entry: CorpusEntry) -> Iterator[InstructionRecord | BadRecordError]:
    for number, _, line in iter_lines(entry):
        yield parse_line(entry, line, number)


def iter_corpus(
    path: str | Path, allowed_roots: Sequence[str | Path] = ()
) -> Iterator[InstructionRecord | BadRecordError]:
    """Yield every record of a corpus once, in file order, or the error that made it unusable.

    Args:
        path: A ``.jsonl`` corpus or a mixture ``.json``.
        allowed_roots: Folders images may come from besides each source's root.
    """
    for entry in read_mixture(path, allowed_roots):
        yield from _iter_jsonl(entry)


def repeat_positions(count: int, factor: float, rng: random.Random) -> list[int]:
    """Positions ``0..count-1`` repeated as ``repeat_time`` says (the fraction sampled).

    ``read_corpus`` applies the same draw to its records, so a corpus read whole and one
    indexed or sharded with the same seed hold the same records.
    """
    whole, fraction = int(factor), factor - int(factor)
    extra = rng.sample(range(count), round(count * fraction)) if fraction > 0 else []
    return [p for _ in range(whole) for p in range(count)] + extra


def _repeat(items: list[InstructionRecord], factor: float, rng: random.Random) -> list:
    return [items[p] for p in repeat_positions(len(items), factor, rng)]


def read_corpus(
    path: str | Path, seed: int = 0, allowed_roots: Sequence[str | Path] = ()
) -> tuple[list[InstructionRecord], list[BadRecordError]]:
    """Read a whole corpus, applying each source's ``repeat_time``.

    Args:
        path: A ``.jsonl`` corpus or a mixture ``.json``.
        seed: Seed of the subsampling for fractional ``repeat_time``.
        allowed_roots: Folders images may come from besides each source's root.

    Returns:
        The usable records (repeated as configured) and the bad ones, with reasons.
    """
    rng = random.Random(seed)
    records: list[InstructionRecord] = []
    bad: list[BadRecordError] = []
    for entry in read_mixture(path, allowed_roots):
        good = []
        for item in _iter_jsonl(entry):
            (bad if isinstance(item, BadRecordError) else good).append(item)
        records.extend(_repeat(good, entry.repeat_time, rng))
    return records, bad
