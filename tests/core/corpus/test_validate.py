import json
from pathlib import Path

import pytest

from vitp_core.corpus.records import BadRecordError
from vitp_core.corpus.validate import validate_corpus

from .conftest import save_rgb


def _record(
    image: object, question: str = "<image>\nWhere?", answer: str = "Here.", rid: str = "r"
) -> str:
    return json.dumps(
        {
            "id": rid,
            "image": image,
            "conversations": [
                {"from": "human", "value": question},
                {"from": "gpt", "value": answer},
            ],
        }
    )


def test_each_problem_named_with_file_and_line(tmp_path: Path) -> None:
    save_rgb(tmp_path / "ok.png", (1, 2, 3))
    (tmp_path / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    lines = [
        _record("ok.png", rid="a"),  # 1: fine
        _record("missing.png", rid="b"),  # 2: missing image
        _record("ok.png", "<image>\n<image>\nCompare.", rid="c"),  # 3: two tags, one image
        _record(
            "ok.png", answer="<ref>car</ref><box>[[10, 20, 1200, 40]]</box>", rid="d"
        ),  # 4: box out of range
        _record("ok.png", answer="  ", rid="e"),  # 5: empty answer
        "{not json",  # 6
        _record("truncated.png", rid="f"),  # 7: unreadable
        _record("ok.png", answer="<box>[[300, 20, 100, 40]]</box>", rid="g"),  # 8: x1 > x2
        _record("ok.png", rid="a"),  # 9: duplicate id
    ]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(lines) + "\n")
    report = validate_corpus(corpus)
    problems = {str(p).split(": ", 1)[0]: str(p) for p in report.problems}
    assert report.records == 9 and not report.ok
    assert set(problems) == {f"{corpus}:{n}" for n in (2, 3, 4, 5, 6, 7, 8, 9)}
    assert "missing.png: file not found" in problems[f"{corpus}:2"]
    assert "2 <image> tag(s) but 1 image(s)" in problems[f"{corpus}:3"]
    assert "box [10, 20, 1200, 40] is outside 0-1000" in problems[f"{corpus}:4"]
    assert "answer 0 is empty" in problems[f"{corpus}:5"]
    assert "not valid JSON" in problems[f"{corpus}:6"]
    assert "truncated.png" in problems[f"{corpus}:7"]
    assert "x1 > x2" in problems[f"{corpus}:8"]
    assert "already used" in problems[f"{corpus}:9"]
    with pytest.raises(BadRecordError, match=rf"{corpus}:2: image .*missing\.png"):
        validate_corpus(corpus, on_bad_record="raise")


def test_clean_corpus_without_image_check(tmp_path: Path) -> None:
    (tmp_path / "c.jsonl").write_text(_record("not_checked.png") + "\n")
    assert validate_corpus(tmp_path / "c.jsonl", check_images=False).ok


def test_bombs_and_non_finite_images_are_named_not_crashed(tmp_path: Path) -> None:
    from hostile_files import float_geotiff, geotiff_bomb, npy_header_bomb, png_bomb

    pytest.importorskip("rasterio")
    import numpy as np

    save_rgb(tmp_path / "ok.png", (1, 2, 3))
    png_bomb(tmp_path / "bomb.png")
    geotiff_bomb(tmp_path / "bomb.tif")
    npy_header_bomb(tmp_path / "bomb.npy")
    nan = np.ones((3, 4, 4), dtype=np.float32)
    nan[0, 0, :] = np.nan
    float_geotiff(tmp_path / "nan.tif", nan)
    names = ["ok.png", "bomb.png", "bomb.tif", "bomb.npy", "nan.tif"]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(_record(n, rid=str(i)) for i, n in enumerate(names)) + "\n")
    report = validate_corpus(corpus)
    problems = {str(p).split(": ", 1)[0]: str(p) for p in report.problems}
    assert set(problems) == {f"{corpus}:{n}" for n in (2, 3, 4, 5)}
    assert "400000000 pixels" in problems[f"{corpus}:2"]
    assert "100000x100000" in problems[f"{corpus}:3"]
    assert "100000x100000" in problems[f"{corpus}:4"]
    assert "4 non-finite pixel value(s)" in problems[f"{corpus}:5"]
    small = validate_corpus(corpus, max_image_pixels=100)  # 32 x 32 = 1024 pixels
    assert any("ok.png: declares 32x32" in str(p) for p in small.problems)
