import json
from pathlib import Path

import pytest

from vitp_core.corpus.builders.vqa_rad import build_vqa_rad_corpus

from ..conftest import read_jsonl, save_rgb


def test_test_split_goes_to_eval_and_bad_entries_name_their_line(
    tmp_path: Path, data_root: Path
) -> None:
    save_rgb(data_root / "images" / "synpic1.jpg", (40, 40, 40))
    entries = [
        {
            "qid": 1,
            "image_name": "synpic1.jpg",
            "question": "Is there a fracture?",
            "answer": "No",
            "phrase_type": "freeform",
        },
        {
            "qid": 2,
            "image_name": "synpic1.jpg",
            "question": "Any fracture seen?",
            "answer": "no",
            "phrase_type": "test_para",
        },
        {
            "qid": 3,
            "image_name": "synpic1.jpg",
            "question": "Which organ?",
            "answer": " ",
            "phrase_type": "para",
        },
        {
            "qid": 4,
            "image_name": "missing.jpg",
            "question": "Which organ?",
            "answer": "Chest",
            "phrase_type": "freeform",
        },
        {
            "qid": 5,
            "image_name": "synpic1.jpg",
            "question": "What plane?",
            "answer": "Axial",
            "phrase_type": "test_freeform",
        },
    ]
    path = data_root / "VQA_RAD Dataset Public.json"
    path.write_text(json.dumps(entries, indent=1))
    report = build_vqa_rad_corpus(path, tmp_path / "out", data_roots=[data_root])
    corpus = read_jsonl(tmp_path / "out" / "corpus.jsonl")
    held_out = read_jsonl(tmp_path / "out" / "eval.jsonl")
    assert [r["meta"]["qid"] for r in corpus] == [1]
    assert [r["meta"]["qid"] for r in held_out] == [2, 5]
    assert corpus[0]["conversations"][1]["value"] == "No"  # answers kept as they are
    start = path.read_text().splitlines().index('  "qid": 3,')  # its "{" is the line above
    assert f"{path}:{start}: entry 2 (qid 3) has an empty question or answer." in report.skipped
    assert any("missing.jpg: file not found" in s for s in report.skipped)


@pytest.mark.data
def test_vqa_rad_real_data_keeps_test_out(tmp_path: Path, vitp_data: Path) -> None:
    report = build_vqa_rad_corpus(
        vitp_data / "med" / "vqa_rad" / "VQA_RAD Dataset Public.json",
        tmp_path / "v",
        data_roots=[vitp_data],
    )
    assert report.records == 1206 + 591 and report.extra["held_out_test_questions"] == 308 + 143
    test_phrase = {r["meta"]["phrase_type"] for r in read_jsonl(tmp_path / "v" / "corpus.jsonl")}
    assert test_phrase == {"freeform", "para"}
