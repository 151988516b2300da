import json
from pathlib import Path

import pytest

from vitp_core.corpus import read_corpus
from vitp_core.corpus.records import BadRecordError, RecordSource
from vitp_core.corpus.writer import CorpusWriter, check_out_dir, make_conversation

from .conftest import save_rgb


def test_conversation_tags_one_per_image() -> None:
    single = make_conversation([("Q1?", "A1."), ("Q2?", "A2.")], 1)
    assert [t["from"] for t in single] == ["human", "gpt", "human", "gpt"]
    assert single[0]["value"] == "<image>\nQ1?" and single[2]["value"] == "Q2?"
    double = make_conversation([("Changed?", "Yes.")], 2)
    assert double[0]["value"] == "Image-1: <image>\nImage-2: <image>\nChanged?"


def test_writer_writes_readable_corpus_and_report(tmp_path: Path) -> None:
    source = save_rgb(tmp_path / "src" / "a.png", (10, 20, 30))
    with CorpusWriter(tmp_path / "out", name="t") as w:
        derived = w.image_path("images/b.png")
        save_rgb(derived, (1, 2, 3))
        w.add("t-0", [source, derived], [("Q?", "A.")], {"task": "change"})
        w.skip(tmp_path / "src" / "c.png", "no mask.")
    lines = [json.loads(x) for x in (tmp_path / "out" / "corpus.jsonl").read_text().splitlines()]
    assert lines[0]["image"] == [str(source.resolve()), "images/b.png"]  # derived: relative to root
    assert lines[0]["meta"] == {"source": "t", "task": "change"}
    report = json.loads((tmp_path / "out" / "build_report.json").read_text())
    assert report["records"] == 1 and report["skipped"] == [
        f"{tmp_path / 'src' / 'c.png'}: no mask."
    ]
    records, bad = read_corpus(tmp_path / "out" / "corpus.jsonl")
    assert not bad and records[0].images[1] == tmp_path.resolve() / "out" / "images" / "b.png"


def test_skip_or_raise(tmp_path: Path) -> None:
    with pytest.raises(BadRecordError, match=r"labels.jsonl:7: empty answer"):
        with CorpusWriter(tmp_path / "out", name="t", on_bad_record="raise") as w:
            w.skip(RecordSource("labels.jsonl", 7), "empty answer")
    assert not (tmp_path / "out" / "corpus.jsonl").exists()  # nothing half-written
    with pytest.raises(ValueError, match="on_bad_record"):
        CorpusWriter(tmp_path / "o2", name="t", on_bad_record="ignore")  # type: ignore[arg-type]


def test_output_inside_the_data_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="inside the data folder"):
        check_out_dir(tmp_path / "data" / "corpus", [tmp_path / "data"])
    assert check_out_dir(tmp_path / "runs", [tmp_path / "data"]) == (tmp_path / "runs").resolve()
