r"""One instruction record in the InternVL/LLaVA conversation format.

A record is one JSON object per JSONL line::

    {"id": "rsscn7-0001",
     "image": "field/a001.jpg" | ["A/1.png", "B/1.png"],
     "conversations": [{"from": "human", "value": "<image>\\nWhat kind of scene is this?"},
                       {"from": "gpt", "value": "A field."}, ...],
     "meta": {"source": "rsscn7", "task": "classification", ...}}

Image paths are relative to the corpus root folder and must stay inside it (or inside
an explicitly allowed folder, see :mod:`vitp_core.corpus.image_roots`). Each ``<image>``
tag in the human turns stands for one image, in order; a record with images but no tag gets one
``<image>\\n`` prepended to its first human turn, as InternVL's loader does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitp_core.corpus.image_roots import is_inside, outside_root_reason

__all__ = [
    "IMAGE_TAG",
    "BadRecordError",
    "ConversationTurn",
    "InstructionRecord",
    "RecordSource",
    "parse_record",
]

IMAGE_TAG = "<image>"
_ROLE_ALIASES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}
_SYSTEM_ROLES = {"system"}


@dataclass(frozen=True)
class RecordSource:
    """Where a record comes from: file and 1-based line number (0: the whole file)."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


class BadRecordError(ValueError):
    """A corpus record that cannot be used, with its file, line and the reason.

    Attributes:
        source: File and line of the record.
        reason: What is wrong, phrased so the user knows what to fix.
    """

    def __init__(self, source: RecordSource | None, reason: str) -> None:
        self.source = source
        self.reason = reason
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{reason}")

    def __reduce__(self) -> tuple[type[BadRecordError], tuple[RecordSource | None, str]]:
        # loader workers send bad records to the training process pickled
        return type(self), (self.source, self.reason)


@dataclass(frozen=True)
class ConversationTurn:
    """One message: ``role`` is ``"system"``, ``"user"`` or ``"assistant"``."""

    role: str
    text: str


@dataclass
class InstructionRecord:
    """A parsed, checked instruction record.

    Attributes:
        id: Record id (the file/line when the record has none).
        images: Absolute image paths, in ``<image>`` order.
        turns: Conversation turns; user and assistant alternate, assistant last.
        meta: Free-form metadata (``source``, ``task``, ``bands``, ``gsd``, ``modality``...).
        source: File and line the record was read from.
        max_dynamic_patch: Tile budget of the record with dynamic tiling, set by its
            mixture source (InternVL's per-dataset ``max_dynamic_patch``); ``None`` keeps
            the processor's ``max_tiles``. A record with several images divides it among
            them, as InternVL's fine-tuning script does.
        data_augment: Re-encode every tile as JPEG at a random quality 75-100 (InternVL's
            per-dataset ``data_augment``).
    """

    id: str
    images: list[Path]
    turns: list[ConversationTurn]
    meta: dict[str, Any] = field(default_factory=dict)
    source: RecordSource | None = None
    max_dynamic_patch: int | None = None
    data_augment: bool = False

    @property
    def answers(self) -> list[str]:
        """The assistant answers, in order."""
        return [t.text for t in self.turns if t.role == "assistant"]


def _images_of(
    obj: dict[str, Any],
    root: Path,
    source: RecordSource | None,
    allowed_roots: Sequence[Path] | None,
) -> list[Path]:
    image = obj.get("image", obj.get("images"))
    if image is None:
        return []
    names = [image] if isinstance(image, str) else image
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise BadRecordError(source, f"'image' must be a path or a list of paths, got {image!r}.")
    paths = [Path(n) if Path(n).is_absolute() else root / n for n in names]
    if allowed_roots is not None:
        for name, path in zip(names, paths, strict=True):
            if not is_inside(path, [root, *allowed_roots]):
                raise BadRecordError(source, outside_root_reason(name, root, allowed_roots))
    return paths


def _turns_of(obj: dict[str, Any], source: RecordSource | None) -> list[ConversationTurn]:
    conversations = obj.get("conversations")
    if not isinstance(conversations, list) or not conversations:
        raise BadRecordError(source, "'conversations' must be a non-empty list of turns.")
    turns = []
    for index, turn in enumerate(conversations):
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            raise BadRecordError(source, f"turn {index} needs 'from' and a string 'value'.")
        speaker = str(turn.get("from", "")).lower()
        role = "system" if speaker in _SYSTEM_ROLES else _ROLE_ALIASES.get(speaker)
        if role is None:
            raise BadRecordError(
                source, f"turn {index}: unknown speaker {speaker!r} (use human/gpt/system)."
            )
        turns.append(ConversationTurn(role, turn["value"]))
    return turns


def _check_dialogue(turns: list[ConversationTurn], source: RecordSource | None) -> None:
    dialogue = [t for t in turns if t.role != "system"]
    expected = ["user", "assistant"] * (len(dialogue) // 2)
    if [t.role for t in dialogue] != expected or not dialogue:
        raise BadRecordError(
            source, "turns must alternate human/gpt, starting with human and ending with gpt."
        )
    for index, turn in enumerate(dialogue):
        if turn.role == "assistant" and not turn.text.strip():
            raise BadRecordError(source, f"answer {index // 2} is empty.")


def _align_image_tags(
    turns: list[ConversationTurn], n_images: int, source: RecordSource | None
) -> list[ConversationTurn]:
    n_tags = sum(t.text.count(IMAGE_TAG) for t in turns if t.role == "user")
    if any(IMAGE_TAG in t.text for t in turns if t.role != "user"):
        raise BadRecordError(source, f"{IMAGE_TAG} may only appear in human turns.")
    if n_tags == 0 and n_images > 0:
        first = next(i for i, t in enumerate(turns) if t.role == "user")
        tagged = ConversationTurn("user", (IMAGE_TAG + "\n") * n_images + turns[first].text)
        return [*turns[:first], tagged, *turns[first + 1 :]]
    if n_tags != n_images:
        raise BadRecordError(
            source,
            f"{n_tags} {IMAGE_TAG} tag(s) but {n_images} image(s): "
            "give one tag per image, in order.",
        )
    return turns


def parse_record(
    obj: Any,
    root: str | Path,
    source: RecordSource | None = None,
    allowed_roots: Sequence[str | Path] | None = (),
) -> InstructionRecord:
    """Check and parse one raw JSON record.

    Args:
        obj: The decoded JSON value of one line.
        root: Folder that relative image paths are resolved against; images must lie
            under it.
        source: File and line, used in error messages.
        allowed_roots: Further folders images may come from; ``None`` lifts the
            confinement altogether (for callers that checked the paths themselves).

    Returns:
        The parsed record (image existence is not checked here).

    Raises:
        BadRecordError: Naming the source and what is wrong (an image path outside
            ``root`` and ``allowed_roots`` included).
    """
    if not isinstance(obj, dict):
        raise BadRecordError(source, f"a record must be a JSON object, got {type(obj).__name__}.")
    extra = None if allowed_roots is None else [Path(r) for r in allowed_roots]
    images = _images_of(obj, Path(root), source, extra)
    turns = _align_image_tags(_turns_of(obj, source), len(images), source)
    _check_dialogue(turns, source)
    meta = obj.get("meta") or {}
    if not isinstance(meta, dict):
        raise BadRecordError(source, "'meta' must be a JSON object.")
    record_id = str(obj.get("id", source or "record"))
    return InstructionRecord(record_id, images, turns, dict(meta), source)
