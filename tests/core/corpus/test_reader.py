"""Reading corpora written by the official ViTP / InternVL tools, as they are."""

import json
from pathlib import Path

from vitp_core.corpus import read_corpus
from vitp_core.corpus.records import RecordSource

from .conftest import save_rgb


def test_official_internvl_grounding_record_and_mixture(tmp_path: Path) -> None:
    images = tmp_path / "data" / "dior"
    save_rgb(images / "00001.jpg", (90, 90, 90), (800, 800))
    official = {
        "id": 0,
        "image": "00001.jpg",
        "width": 800,
        "height": 800,
        "conversations": [
            {
                "from": "human",
                "value": "<image>\nPlease provide the bounding box coordinate of the region "
                "this sentence describes: <ref>airplane</ref>",
            },
            {"from": "gpt", "value": "<ref>airplane</ref><box>[[102, 250, 380, 501]]</box>"},
        ],
    }
    annotation = tmp_path / "anno" / "dior_grounding.jsonl"
    annotation.parent.mkdir()
    annotation.write_text(json.dumps(official) + "\n")
    mixture = tmp_path / "ft_data_rs.json"
    mixture.write_text(
        json.dumps(
            {
                "dior": {
                    "root": "data/dior/",
                    "annotation": "anno/dior_grounding.jsonl",
                    "data_augment": False,
                    "repeat_time": 2,
                    "length": 1,
                }
            }
        )
    )
    records, bad = read_corpus(mixture)
    assert not bad and len(records) == 2  # repeat_time 2
    assert records[0].images == [(tmp_path / "data" / "dior" / "00001.jpg").resolve()]
    assert records[0].answers == ["<ref>airplane</ref><box>[[102, 250, 380, 501]]</box>"]
    assert records[0].meta["source"] == "dior"


def test_record_source_of_a_whole_file_has_no_line() -> None:
    assert str(RecordSource("a.json", 3)) == "a.json:3"
    assert str(RecordSource("a.png", 0)) == "a.png"
