"""Check every record of a corpus and name each problem with its file and line.

Checks: the record schema and turn order, one ``<image>`` tag per image, non-empty
answers (all through :func:`~vitp_core.corpus.records.parse_record`), every image
present, within the pixel limit (checked from its header, before decoding),
decodable and free of NaN/Inf values, ``<box>`` contents well formed and inside 0-1000
with ``x1 <= x2`` and ``y1 <= y2``, and unique record ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vitp_core.corpus.grounding import BOX_SCALE, parse_boxes
from vitp_core.corpus.images import ImageReadError, check_image
from vitp_core.corpus.reader import iter_corpus
from vitp_core.corpus.records import BadRecordError, InstructionRecord
from vitp_core.corpus.writer import OnBadRecord

__all__ = ["ImageChecker", "ValidationReport", "record_problems", "validate_corpus"]


@dataclass
class ValidationReport:
    """Outcome of :func:`validate_corpus`.

    Attributes:
        corpus: The corpus path.
        records: Records read (good and bad).
        problems: One error per bad record, naming file, line and reason.
        images_checked: Distinct images decoded.
    """

    corpus: str
    records: int = 0
    problems: list[BadRecordError] = field(default_factory=list)
    images_checked: int = 0

    @property
    def ok(self) -> bool:
        """Whether no record has a problem."""
        return not self.problems

    def summary(self) -> str:
        """One line for the terminal."""
        status = "OK" if self.ok else f"{len(self.problems)} bad record(s)"
        return (
            f"{self.corpus}: {self.records} records, {self.images_checked} images checked: {status}"
        )


class ImageChecker:
    """Decodes each image once and remembers why it failed.

    Args:
        max_pixels: Largest width x height accepted (default: see
            :func:`~vitp_core.corpus.images.max_image_pixels`).
    """

    def __init__(self, max_pixels: int | None = None) -> None:
        self._seen: dict[Path, str | None] = {}
        self.max_pixels = max_pixels

    def problem(self, path: Path) -> str | None:
        """Why ``path`` cannot be read, or ``None``."""
        if path not in self._seen:
            try:
                check_image(path, self.max_pixels)
                self._seen[path] = None
            except ImageReadError as err:
                self._seen[path] = f"image {err.path}: {err.reason}"
        return self._seen[path]

    def __len__(self) -> int:
        return len(self._seen)


def _box_problems(record: InstructionRecord) -> Iterator[str]:
    for index, turn in enumerate(record.turns):
        try:
            boxes = parse_boxes(turn.text)
        except ValueError as err:
            yield f"turn {index}: {err}"
            continue
        for box in boxes:
            x1, y1, x2, y2 = box
            inside = all(0 <= v <= BOX_SCALE for v in box)
            if not inside or x1 > x2 or y1 > y2:
                yield (
                    f"turn {index}: box {[int(v) if v == int(v) else v for v in box]} is outside "
                    f"0-{BOX_SCALE} or has x1 > x2 / y1 > y2 (boxes are [x1, y1, x2, y2] "
                    f"normalised to 0-{BOX_SCALE})."
                )


def record_problems(record: InstructionRecord, images: ImageChecker | None) -> list[str]:
    """Problems of one parsed record: unreadable images and bad boxes."""
    problems = list(_box_problems(record))
    if images is not None:
        problems += [p for path in record.images if (p := images.problem(path))]
    return problems


def validate_corpus(
    path: str | Path,
    *,
    check_images: bool = True,
    on_bad_record: OnBadRecord = "skip",
    max_image_pixels: int | None = None,
) -> ValidationReport:
    """Check every record of a ``.jsonl`` corpus or mixture file.

    Args:
        path: The corpus.
        check_images: Decode every image (slower); otherwise images are not opened.
        on_bad_record: ``"raise"`` stops at the first problem, ``"skip"`` collects all.
        max_image_pixels: Largest width x height of an image; larger ones are bad records
            (default: ``$VITP_MAX_IMAGE_PIXELS`` or 150 megapixels).

    Returns:
        The report with every problem.

    Raises:
        BadRecordError: At the first problem when ``on_bad_record == "raise"``.
        FileNotFoundError: When the corpus or a file it lists is missing.
    """
    report = ValidationReport(str(path))
    images = ImageChecker(max_image_pixels) if check_images else None
    seen_ids: dict[tuple[str, str], str] = {}
    for item in iter_corpus(path):
        report.records += 1
        problems: list[BadRecordError] = []
        if isinstance(item, BadRecordError):
            problems.append(item)
        else:
            key = (str(item.meta.get("source")), item.id)
            if key in seen_ids:
                problems.append(
                    BadRecordError(item.source, f"id {item.id!r} already used at {seen_ids[key]}.")
                )
            seen_ids.setdefault(key, str(item.source))
            problems += [BadRecordError(item.source, p) for p in record_problems(item, images)]
        if problems and on_bad_record == "raise":
            raise problems[0]
        report.problems.extend(problems)
    report.images_checked = len(images) if images is not None else 0
    return report
