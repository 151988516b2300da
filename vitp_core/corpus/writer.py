"""Writing a corpus: records, derived images, the bad-input policy and a build report.

Every builder writes through a :class:`CorpusWriter`::

    with CorpusWriter(out_dir, name="rsscn7", on_bad_record="skip") as writer:
        writer.add("rsscn7-0", [image_path], [("What kind of scene is this?", "A field.")],
                   meta={"task": "classification"})
    report = writer.report

The corpus file ``corpus.jsonl`` and ``build_report.json`` appear atomically when the
``with`` block ends without error. Source images are referenced by absolute path;
images the builder derives (slices, chips) live under ``out_dir/images`` and are
referenced relative to ``out_dir``, the corpus root. Since a corpus may only read
images under its root, the writer records the source folders it referenced in
``image_roots.json`` (for each image, the deepest of the builder's ``data_roots``
holding it, else the image's own folder): readers allow exactly those.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from vitp_core.atomic_io import atomic_path, atomic_write_json
from vitp_core.corpus.image_roots import minimal_roots, write_recorded_roots
from vitp_core.corpus.records import IMAGE_TAG, BadRecordError, RecordSource

__all__ = [
    "CORPUS_FILE",
    "BuildReport",
    "CorpusWriter",
    "OnBadRecord",
    "check_out_dir",
    "make_conversation",
]

OnBadRecord = Literal["skip", "raise"]
CORPUS_FILE = "corpus.jsonl"
REPORT_FILE = "build_report.json"


@dataclass
class BuildReport:
    """What a build wrote and what it skipped.

    Attributes:
        name: Corpus name (the ``source`` in record metadata).
        corpus: Path of the written ``corpus.jsonl``.
        records: Number of records written.
        images: Number of distinct images referenced.
        tasks: Records per task type.
        skipped: ``"file:line: reason"`` for every skipped input.
        seconds: Wall-clock build time in seconds.
        extra: Builder-specific facts (e.g. the held-out eval file of VQA-RAD).
        image_roots: Folders outside the corpus folder whose images the records
            reference (also written to ``image_roots.json``, which readers allow).
    """

    name: str
    corpus: str
    records: int = 0
    images: int = 0
    tasks: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    image_roots: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the terminal."""
        tasks = ", ".join(f"{k}: {v}" for k, v in sorted(self.tasks.items()))
        return (
            f"{self.name}: {self.records} records, {self.images} images ({tasks}); "
            f"{len(self.skipped)} skipped; {self.seconds:.1f} s -> {self.corpus}"
        )


def check_out_dir(out_dir: str | Path, sources: Sequence[str | Path]) -> Path:
    """Refuse an output folder inside (or equal to) a source data folder.

    Raises:
        ValueError: When ``out_dir`` lies inside one of ``sources``.
    """
    out = Path(out_dir).resolve()
    for source in sources:
        src = Path(source).resolve()
        if out == src or src in out.parents:
            raise ValueError(
                f"output folder {out} is inside the data folder {src}: data folders are "
                "read-only inputs, choose another --out."
            )
    return out


def make_conversation(qa: Sequence[tuple[str, str]], n_images: int) -> list[dict[str, str]]:
    """InternVL ``conversations`` for question/answer pairs, image tags in the first turn.

    Args:
        qa: ``(question, answer)`` pairs, in order.
        n_images: Number of images of the record; one ``<image>`` line per image.

    Returns:
        Alternating ``{"from": "human"|"gpt", "value": ...}`` turns.
    """
    if n_images == 1:
        prefix = IMAGE_TAG + "\n"
    else:
        prefix = "".join(f"Image-{i + 1}: {IMAGE_TAG}\n" for i in range(n_images))
    turns = []
    for index, (question, answer) in enumerate(qa):
        turns.append({"from": "human", "value": (prefix if index == 0 else "") + question})
        turns.append({"from": "gpt", "value": answer})
    return turns


class CorpusWriter:
    """Collects records and writes ``corpus.jsonl`` atomically.

    Args:
        out_dir: Corpus folder (created); it is the root of relative image paths.
        name: Corpus name, stored as ``meta["source"]`` and used in record ids.
        on_bad_record: ``"skip"`` counts and reports bad inputs, ``"raise"`` stops at
            the first one with a :class:`BadRecordError`.
        data_roots: Source data folders that ``out_dir`` must not lie inside; the
            records' source images are allowed by the deepest of them holding each.
        corpus_file: File name of the corpus inside ``out_dir``.
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        name: str,
        on_bad_record: OnBadRecord = "skip",
        data_roots: Sequence[str | Path] = (),
        corpus_file: str = CORPUS_FILE,
    ) -> None:
        if on_bad_record not in ("skip", "raise"):
            raise ValueError(f"on_bad_record must be 'skip' or 'raise', got {on_bad_record!r}.")
        self.out_dir = check_out_dir(out_dir, data_roots)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.data_roots = [Path(r) for r in data_roots]
        self.name = name
        self.on_bad_record = on_bad_record
        self.report = BuildReport(name, str(self.out_dir / corpus_file))
        self._records: list[dict[str, Any]] = []
        self._images: set[str] = set()
        self._external: set[Path] = set()
        self._tasks: Counter[str] = Counter()
        self._start = time.perf_counter()

    def image_path(self, relative: str) -> Path:
        """Absolute path for a derived image under ``out_dir`` (parents created)."""
        path = self.out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def reference(self, path: Path) -> str:
        """How a record names ``path``: relative under ``out_dir``, else absolute.

        Absolute references are remembered, so that ``image_roots.json`` allows them.
        """
        path = Path(path).resolve()
        if self.out_dir in path.parents:
            return path.relative_to(self.out_dir).as_posix()
        self._external.add(path)
        return str(path)

    def add(
        self,
        record_id: str,
        images: Sequence[Path],
        qa: Sequence[tuple[str, str]],
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Add one record.

        Args:
            record_id: Unique id within the corpus.
            images: Image files, in the order the questions refer to them.
            qa: ``(question, answer)`` pairs; answers must be non-empty.
            meta: Metadata (``task`` at least); ``source`` is set to the corpus name.
        """
        meta = {"source": self.name, **(meta or {})}
        names = [self.reference(p) for p in images]
        record: dict[str, Any] = {"id": record_id}
        if names:
            record["image"] = names[0] if len(names) == 1 else names
        record["conversations"] = make_conversation(qa, len(names))
        record["meta"] = meta
        self._records.append(record)
        self._images.update(names)
        self._tasks[str(meta.get("task", "unknown"))] += 1

    def skip(self, where: str | Path | RecordSource, reason: str) -> None:
        """Report a bad input: raise or count it, following ``on_bad_record``.

        Args:
            where: The input file (or file and line) at fault.
            reason: What is wrong and, where useful, what to do.

        Raises:
            BadRecordError: When ``on_bad_record == "raise"``.
        """
        source = where if isinstance(where, RecordSource) else RecordSource(str(where), 0)
        error = BadRecordError(source, reason)
        if self.on_bad_record == "raise":
            raise error
        self.report.skipped.append(str(error))

    def write(self) -> BuildReport:
        """Write ``corpus.jsonl``, ``build_report.json`` and ``image_roots.json`` atomically."""
        if self._external:
            self.report.image_roots = minimal_roots(sorted(self._external), self.data_roots)
            write_recorded_roots(self.out_dir, self.report.image_roots)
        with atomic_path(self.report.corpus) as tmp, open(tmp, "w", encoding="utf-8") as handle:
            for record in self._records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.report.records = len(self._records)
        self.report.images = len(self._images)
        self.report.tasks = dict(self._tasks)
        self.report.seconds = round(time.perf_counter() - self._start, 3)
        atomic_write_json(self.out_dir / REPORT_FILE, asdict(self.report))
        return self.report

    def __enter__(self) -> CorpusWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.write()
