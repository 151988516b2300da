"""Reading corpora: one JSONL file, or a mixture file of several JSONLs with weights.

A mixture file is a JSON object like InternVL's ``ft_data_*.json``::

    {"rsscn7": {"annotation": "rsscn7/corpus.jsonl", "root": "rsscn7/images",
                "repeat_time": 2, "data_augment": false},
     "dubai":  {"annotation": "dubai/corpus.jsonl", "root": "dubai", "repeat_time": 0.5}}

Relative ``annotation`` and ``root`` paths are resolved against the mixture file's
folder. ``repeat_time`` above 1 repeats the source (the fraction part sampled), below
1 subsamples it, with a fixed seed. A JSONL corpus alone uses its own folder as root.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vitp_core.corpus.records import BadRecordError, InstructionRecord, RecordSource, parse_record

__all__ = ["CorpusEntry", "iter_corpus", "read_corpus", "read_mixture"]


@dataclass(frozen=True)
class CorpusEntry:
    """One source of a corpus: a JSONL file, its image root and repeat factor."""

    name: str
    annotation: Path
    root: Path
    repeat_time: float = 1.0


def read_mixture(path: str | Path) -> list[CorpusEntry]:
    """Return the sources of a corpus path (a mixture ``.json`` or a single ``.jsonl``).

    Raises:
        FileNotFoundError: When the path or a listed annotation file is missing.
        ValueError: When the mixture file is not a JSON object of sources.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"corpus {path} not found.")
    if path.suffix == ".jsonl":
        return [CorpusEntry(path.stem, path, path.parent)]
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
        entries.append(CorpusEntry(name, annotation, root, float(item.get("repeat_time", 1.0))))
    return entries


def _iter_jsonl(entry: CorpusEntry) -> Iterator[InstructionRecord | BadRecordError]:
    with open(entry.annotation, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            source = RecordSource(str(entry.annotation), number)
            try:
                record = parse_record(json.loads(line), entry.root, source)
            except json.JSONDecodeError as err:
                yield BadRecordError(source, f"not valid JSON ({err.msg} at column {err.colno}).")
                continue
            except BadRecordError as err:
                yield err
                continue
            record.meta.setdefault("source", entry.name)
            yield record


def iter_corpus(path: str | Path) -> Iterator[InstructionRecord | BadRecordError]:
    """Yield every record of a corpus once, in file order, or the error that made it unusable."""
    for entry in read_mixture(path):
        yield from _iter_jsonl(entry)


def _repeat(items: list[InstructionRecord], factor: float, rng: random.Random) -> list:
    whole, fraction = int(factor), factor - int(factor)
    extra = rng.sample(items, round(len(items) * fraction)) if fraction > 0 else []
    return items * whole + extra


def read_corpus(
    path: str | Path, seed: int = 0
) -> tuple[list[InstructionRecord], list[BadRecordError]]:
    """Read a whole corpus, applying each source's ``repeat_time``.

    Args:
        path: A ``.jsonl`` corpus or a mixture ``.json``.
        seed: Seed of the subsampling for fractional ``repeat_time``.

    Returns:
        The usable records (repeated as configured) and the bad ones, with reasons.
    """
    rng = random.Random(seed)
    records: list[InstructionRecord] = []
    bad: list[BadRecordError] = []
    for entry in read_mixture(path):
        good = []
        for item in _iter_jsonl(entry):
            (bad if isinstance(item, BadRecordError) else good).append(item)
        records.extend(_repeat(good, entry.repeat_time, rng))
    return records, bad
