"""VQA-RAD -> its question/answer pairs as they are, with the test split held out.

VQA-RAD's JSON is a list of ``{"image_name", "question", "answer", "phrase_type", ...}``;
its test set is ``phrase_type`` in ``test_freeform`` / ``test_para``. Those questions
never enter the pretraining corpus: they go to ``eval.jsonl`` next to it, in the same
format, so the model can be evaluated on them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vitp_core.atomic_io import atomic_path
from vitp_core.corpus.images import ImageReadError, check_image
from vitp_core.corpus.records import RecordSource
from vitp_core.corpus.writer import BuildReport, CorpusWriter, OnBadRecord, make_conversation

__all__ = ["VQA_RAD_TEST_TYPES", "build_vqa_rad_corpus"]

VQA_RAD_TEST_TYPES = frozenset({"test_freeform", "test_para"})
EVAL_FILE = "eval.jsonl"


def _entries_with_lines(path: Path) -> list[tuple[int, Any]]:
    """Decode a JSON array element by element, keeping each element's 1-based line."""
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    start = text.index("[") + 1
    entries = []
    while True:
        while start < len(text) and text[start] in " \t\r\n,":
            start += 1
        if start >= len(text) or text[start] == "]":
            return entries
        value, end = decoder.raw_decode(text, start)
        entries.append((text.count("\n", 0, start) + 1, value))
        start = end


def _meta(entry: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "source": name,
        "task": "vqa",
        "qid": entry.get("qid"),
        "answer_type": entry.get("answer_type"),
        "question_type": entry.get("question_type"),
        "organ": entry.get("image_organ"),
        "phrase_type": entry.get("phrase_type"),
        "bands": ["red", "green", "blue"],
    }


def build_vqa_rad_corpus(
    json_path: str | Path,
    out_dir: str | Path,
    *,
    image_root: str | Path | None = None,
    name: str = "vqa_rad",
    on_bad_record: OnBadRecord = "skip",
    data_roots: Sequence[str | Path] = (),
) -> BuildReport:
    """Convert VQA-RAD to a corpus (train questions) and ``eval.jsonl`` (test questions).

    Args:
        json_path: ``VQA_RAD Dataset Public.json``.
        out_dir: Corpus folder.
        image_root: Folder of the images (default: ``images/`` next to the JSON).
        name: Corpus name.
        on_bad_record: ``"skip"`` or ``"raise"``.
        data_roots: Source folders the output must not be written into.

    Returns:
        The report; ``extra`` names the eval file and counts the held-out questions.
    """
    json_path = Path(json_path)
    root = Path(image_root) if image_root is not None else json_path.parent / "images"
    held_out: list[dict[str, Any]] = []
    checked: dict[Path, str | None] = {}  # image -> problem (None: readable)
    with CorpusWriter(out_dir, name=name, on_bad_record=on_bad_record, data_roots=data_roots) as w:
        for number, (line, entry) in enumerate(_entries_with_lines(json_path)):
            source = RecordSource(str(json_path), line)
            if not isinstance(entry, dict):
                w.skip(source, f"entry {number} is not a JSON object.")
                continue
            if (
                not str(entry.get("question", "")).strip()
                or not str(entry.get("answer", "")).strip()
            ):
                w.skip(
                    source,
                    f"entry {number} (qid {entry.get('qid')}) has an empty question or answer.",
                )
                continue
            image = root / str(entry.get("image_name", ""))
            if image not in checked:
                try:
                    check_image(image)
                    checked[image] = None
                except ImageReadError as err:
                    checked[image] = str(err)
            if checked[image] is not None:
                w.skip(source, checked[image])
                continue
            record_id = f"{name}-{number:05d}"
            qa = [(str(entry["question"]).strip(), str(entry["answer"]).strip())]
            if entry.get("phrase_type") in VQA_RAD_TEST_TYPES:
                conversation = make_conversation(qa, 1)
                held_out.append(
                    {
                        "id": record_id,
                        "image": w.reference(image),
                        "conversations": conversation,
                        "meta": _meta(entry, name),
                    }
                )
                continue
            w.add(record_id, [image], qa, _meta(entry, name))
        eval_path = w.out_dir / EVAL_FILE
        with atomic_path(eval_path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
            for record in held_out:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        w.report.extra = {"eval_file": str(eval_path), "held_out_test_questions": len(held_out)}
    return w.report
