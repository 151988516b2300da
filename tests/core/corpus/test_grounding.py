import pytest

from vitp_core.corpus.grounding import (
    format_boxes,
    format_grounding,
    normalize_box,
    parse_boxes,
    position_phrase,
)


def test_normalize_box_to_0_1000() -> None:
    assert normalize_box([0, 0, 200, 100], 200, 100) == [0, 0, 1000, 1000]
    assert normalize_box([50, 25, 100, 75], 200, 100) == [250, 250, 500, 750]
    assert normalize_box([-3, 0, 250, 100], 200, 100) == [0, 0, 1000, 1000]  # clipped


def test_internvl_grounding_round_trip() -> None:
    text = format_grounding("airplane", [[1, 2, 3, 4], [10, 20, 30, 40]])
    assert text == "<ref>airplane</ref><box>[[1, 2, 3, 4], [10, 20, 30, 40]]</box>"
    assert parse_boxes(f"There: {text} and {format_boxes([[5, 6, 7, 8]])}") == [
        [1, 2, 3, 4],
        [10, 20, 30, 40],
        [5, 6, 7, 8],
    ]
    assert parse_boxes("<box>[100, 200, 300, 400]</box>") == [[100, 200, 300, 400]]


def test_parse_boxes_rejects_malformed_content() -> None:
    with pytest.raises(ValueError, match="not a JSON list"):
        parse_boxes("<box>[[1, 2, 3</box>")
    with pytest.raises(ValueError, match=r"\[x1, y1, x2, y2\]"):
        parse_boxes("<box>[[1, 2, 3]]</box>")


def test_position_phrase_grid() -> None:
    assert position_phrase([0, 0, 100, 100]) == "top left"
    assert position_phrase([400, 400, 600, 600]) == "center"
    assert position_phrase([900, 450, 1000, 550]) == "middle right"
    assert position_phrase([400, 900, 600, 1000]) == "bottom center"
