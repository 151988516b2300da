"""Item 9: a corpus reads images only under its root, unless other folders are allowed
explicitly; the corpus builders record the source folders they reference."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vitp_core.corpus.reader import read_corpus
from vitp_core.corpus.validate import validate_corpus
from vitp_core.corpus.writer import CorpusWriter

from .conftest import save_rgb

IMAGE_ROOTS_ENV = "VITP_IMAGE_ROOTS"
IMAGE_ROOTS_FILE = "image_roots.json"


def _record(image: str, rid: str) -> str:
    return json.dumps(
        {
            "id": rid,
            "image": image,
            "conversations": [
                {"from": "human", "value": "<image>\nWhat is it?"},
                {"from": "gpt", "value": "A field."},
            ],
        }
    )


@pytest.fixture
def escaping(tmp_path: Path) -> Path:
    """corpus/c.jsonl: line 1 inside its root, line 2 `../outside/x.png`, line 3 absolute."""
    save_rgb(tmp_path / "corpus" / "in.png", (1, 2, 3))
    outside = save_rgb(tmp_path / "outside" / "x.png", (4, 5, 6))
    corpus = tmp_path / "corpus" / "c.jsonl"
    lines = [_record("in.png", "a"), _record("../outside/x.png", "b"), _record(str(outside), "c")]
    corpus.write_text("\n".join(lines) + "\n")
    return corpus


def test_images_outside_the_corpus_root_are_bad_records(escaping: Path) -> None:
    records, bad = read_corpus(escaping)
    assert [r.id for r in records] == ["a"]
    assert [str(e.source) for e in bad] == [f"{escaping}:2", f"{escaping}:3"]
    assert "'../outside/x.png' is outside the corpus root" in bad[0].reason
    assert "allowed_roots" in bad[0].reason and IMAGE_ROOTS_ENV in bad[0].reason
    report = validate_corpus(escaping)
    assert [str(p.source) for p in report.problems] == [f"{escaping}:2", f"{escaping}:3"]


def test_other_folders_are_read_when_allowed_explicitly(
    escaping: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = escaping.parent.parent / "outside"
    # by the caller (data.allowed_image_roots)
    assert not read_corpus(escaping, allowed_roots=[outside])[1]
    # by the environment
    monkeypatch.setenv(IMAGE_ROOTS_ENV, f"/nowhere{os.pathsep}{outside}")
    assert not read_corpus(escaping)[1]
    monkeypatch.delenv(IMAGE_ROOTS_ENV)
    # by a mixture entry (relative to the mixture's folder)
    mixture = escaping.parent.parent / "mix.json"
    entry = {"annotation": "corpus/c.jsonl", "root": "corpus"}
    mixture.write_text(json.dumps({"c": {**entry, "allowed_roots": ["outside"]}}))
    assert not read_corpus(mixture)[1]
    mixture.write_text(json.dumps({"c": entry}))
    assert len(read_corpus(mixture)[1]) == 2
    # by image_roots.json beside the corpus
    (escaping.parent / IMAGE_ROOTS_FILE).write_text(json.dumps({"allowed_roots": [str(outside)]}))
    assert not read_corpus(escaping)[1] and not read_corpus(mixture)[1]


def test_a_link_inside_the_root_is_followed(tmp_path: Path) -> None:
    target = save_rgb(tmp_path / "elsewhere" / "x.png", (4, 5, 6)).parent
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "linked").symlink_to(target, target_is_directory=True)
    corpus = tmp_path / "corpus" / "c.jsonl"
    corpus.write_text(_record("linked/x.png", "a") + "\n" + _record("linked/../../x.png", "b"))
    records, bad = read_corpus(corpus)
    assert [r.id for r in records] == ["a"] and [e.source.line for e in bad] == [2]


def test_builders_record_the_source_folders_they_reference(tmp_path: Path) -> None:
    data = tmp_path / "data"
    image = save_rgb(data / "rs" / "scenes" / "field" / "a.png", (1, 2, 3))
    loose = save_rgb(tmp_path / "loose" / "b.png", (4, 5, 6))
    out = tmp_path / "corpora" / "scenes"
    with CorpusWriter(out, name="s", data_roots=[data / "rs" / "scenes", data]) as writer:
        writer.add("s-0", [image], [("What is it?", "A field.")])
        writer.add("s-1", [loose], [("What is it?", "A field.")])
    recorded = json.loads((out / IMAGE_ROOTS_FILE).read_text())["allowed_roots"]
    assert recorded == sorted(
        [str((data / "rs" / "scenes").resolve()), str(loose.parent.resolve())]
    )
    assert writer.report.image_roots == recorded
    records, bad = read_corpus(out / "corpus.jsonl")
    assert not bad and len(records) == 2
