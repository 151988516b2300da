"""Change detection pairs -> two-image records about whether, where and how much changed.

Source: the LEVIR-CD layout, ``root/A/x.png`` (before), ``root/B/x.png`` (after) and
``root/label/x.png`` (binary change mask, 0 / 255 or 0 / 1). A pair without a mask, or
whose three files differ in size, is a bad input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vitp_core.corpus.images import PIL_SUFFIXES, ImageReadError, check_image
from vitp_core.corpus.phrasing import record_rng
from vitp_core.corpus.questions.change import change_questions, summarize_change
from vitp_core.corpus.writer import BuildReport, CorpusWriter, OnBadRecord

__all__ = ["ChangePair", "build_change_corpus", "find_change_pairs", "read_change_mask"]


@dataclass(frozen=True)
class ChangePair:
    """Before/after images and their change mask (``None`` when missing)."""

    before: Path
    after: Path | None
    mask: Path | None


def find_change_pairs(
    root: str | Path, before: str = "A", after: str = "B", label: str = "label"
) -> list[ChangePair]:
    """Match ``before/x``, ``after/x`` and ``label/x`` by file stem.

    Raises:
        FileNotFoundError: When the ``before`` folder is missing.
    """
    root = Path(root)
    if not (root / before).is_dir():
        raise FileNotFoundError(f"{root}: no '{before}' folder of 'before' images.")

    def by_stem(folder: str) -> dict[str, Path]:
        path = root / folder
        return {p.stem: p for p in path.iterdir()} if path.is_dir() else {}

    afters, masks = by_stem(after), by_stem(label)
    return [
        ChangePair(p, afters.get(p.stem), masks.get(p.stem))
        for p in sorted((root / before).iterdir())
        if p.suffix.lower() in PIL_SUFFIXES | {".tif", ".tiff"}
    ]


def read_change_mask(path: str | Path) -> np.ndarray:
    """Read a binary change mask as a boolean ``(H, W)`` array.

    Raises:
        ValueError: When the mask has values other than two levels (0 and 1 or 255).
    """
    with Image.open(path) as image:
        mask = np.asarray(image.convert("L"))
    values = set(np.unique(mask).tolist())
    if not values <= {0, 1, 255} or values >= {1, 255}:
        raise ValueError(
            f"{path}: not a binary change mask (values {sorted(values)[:8]}); "
            "use 0 for no change and 1 or 255 for change."
        )
    return mask > 0


def _check(pair: ChangePair) -> str | None:
    """Why a pair is unusable, or None."""
    if pair.after is None:
        return "no 'after' image with the same name."
    if pair.mask is None:
        return "no change mask with the same name."
    try:
        sizes = {str(p): check_image(p) for p in (pair.before, pair.after, pair.mask)}
    except ImageReadError as err:
        return str(err)
    if len(set(sizes.values())) > 1:
        listed = ", ".join(
            f"{Path(p).parent.name}/{Path(p).name} {w}x{h}" for p, (w, h) in sizes.items()
        )
        return f"before, after and mask differ in size ({listed})."
    return None


def build_change_corpus(
    pairs: Sequence[ChangePair],
    out_dir: str | Path,
    *,
    name: str = "change",
    seed: int = 0,
    subject: str = "building",
    n_questions: int = 3,
    meta: dict[str, Any] | None = None,
    on_bad_record: OnBadRecord = "skip",
    data_roots: Sequence[str | Path] = (),
) -> BuildReport:
    """Write a corpus of two-image change records.

    Args:
        pairs: Before/after/mask triplets.
        out_dir: Corpus folder.
        name: Corpus name.
        seed: Seed of the question choice.
        subject: What changes, as a noun ("building").
        n_questions: Question/answer turns per record.
        meta: Extra metadata for every record.
        on_bad_record: ``"skip"`` or ``"raise"``.
        data_roots: Source folders the output must not be written into.
    """
    with CorpusWriter(out_dir, name=name, on_bad_record=on_bad_record, data_roots=data_roots) as w:
        for number, pair in enumerate(pairs):
            problem = _check(pair)
            if problem is not None:
                w.skip(pair.before, problem)
                continue
            try:
                changed = read_change_mask(pair.mask)
            except ValueError as err:
                w.skip(pair.mask, str(err).split(": ", 1)[-1])
                continue
            summary = summarize_change(changed, subject)
            record_id = f"{name}-{number:06d}"
            qa = change_questions(summary, record_rng(seed, record_id), n_questions)
            record_meta = {
                "task": "change",
                "changed_fraction": round(summary.fraction, 4),
                **(meta or {}),
            }
            w.add(record_id, [pair.before, pair.after], qa, record_meta)
    return w.report
