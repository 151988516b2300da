"""Reading corpora written by the official ViTP / InternVL tools, as they are."""

import json
from pathlib import Path

import pytest

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


def _mixture(tmp_path: Path, **settings: object) -> Path:
    save_rgb(tmp_path / "img" / "a.png", (10, 200, 30))
    record = {
        "image": "a.png",
        "conversations": [
            {"from": "human", "value": "<image>\nWhat?"},
            {"from": "gpt", "value": "A."},
        ],
    }
    (tmp_path / "a.jsonl").write_text(json.dumps(record) + "\n")
    source = {"root": "img", "annotation": "a.jsonl", "repeat_time": 1, "length": 1, **settings}
    plain = {"root": "img", "annotation": "a.jsonl"}
    mixture = tmp_path / "ft_data_rs.json"
    mixture.write_text(json.dumps({"cls_rgb_UCM": source, "plain": plain}))
    return mixture


def test_per_source_tile_budget_and_jpeg_augment_reach_the_records(tmp_path: Path) -> None:
    # The keys and meaning of ViTP's ft_data_rs.json: max_dynamic_patch per dataset (12 against
    # a global 6) and data_augment (random JPEG re-encode).
    records, bad = read_corpus(_mixture(tmp_path, max_dynamic_patch=12, data_augment=True))
    assert not bad
    by_source = {r.meta["source"]: r for r in records}
    assert (by_source["cls_rgb_UCM"].max_dynamic_patch, by_source["cls_rgb_UCM"].data_augment) == (
        12,
        True,
    )
    assert (by_source["plain"].max_dynamic_patch, by_source["plain"].data_augment) == (None, False)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_dynamic_patch": 0}, "max_dynamic_patch must be a whole number"),
        ({"max_dynamic_patch": "12"}, "max_dynamic_patch must be a whole number"),
        ({"data_augment": "yes"}, "data_augment must be true or false"),
    ],
)
def test_bad_source_settings_name_the_file_and_source(
    tmp_path: Path, settings: dict, message: str
) -> None:
    mixture = _mixture(tmp_path, **settings)
    with pytest.raises(ValueError, match=rf"ft_data_rs\.json: source 'cls_rgb_UCM': {message}"):
        read_corpus(mixture)
