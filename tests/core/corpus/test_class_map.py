import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vitp_core.corpus.class_map import ClassMap, MaskDecodeError, load_class_map, read_label_mask


def _write(path: Path, payload: object) -> Path:
    path.write_text(json.dumps(payload))
    return path


def test_three_class_map_forms(tmp_path: Path) -> None:
    named = load_class_map(
        _write(
            tmp_path / "a.json",
            {
                "classes": [
                    {"name": "Building", "color": "#FF0000"},
                    {"name": "nodata", "color": ["#000000", [9, 9, 9]], "ignore": True},
                ]
            },
        )
    )
    assert named.names == {0: "building", 1: "nodata"}
    assert named.colors == {(255, 0, 0): 0, (0, 0, 0): 1, (9, 9, 9): 1}
    assert named.ignore == {1}
    supervisely = load_class_map(
        _write(tmp_path / "b.json", {"classes": [{"title": "Water", "color": "#50E3C2"}]})
    )
    assert supervisely.names == {0: "water"} and (80, 227, 194) in supervisely.colors
    indexed = load_class_map(_write(tmp_path / "c.json", {"0": "background", "1": "liver"}))
    assert indexed.names == {0: "background", 1: "liver"} and indexed.ignore == {0}
    with pytest.raises(ValueError, match=r"c2\.json"):
        load_class_map(_write(tmp_path / "c2.json", {"classes": [{"color": "#FFFFFF"}]}))


def test_colour_mask_decoding_and_unknown_colours(tmp_path: Path) -> None:
    class_map = ClassMap({0: "building", 1: "road"}, {(255, 0, 0): 0, (0, 0, 255): 1})
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[:2] = (255, 0, 0)
    rgb[2:] = (0, 0, 255)
    Image.fromarray(rgb).save(tmp_path / "m.png")
    mask = read_label_mask(tmp_path / "m.png", class_map)
    assert mask[:2].tolist() == [[0] * 4] * 2 and mask[2:].tolist() == [[1] * 4] * 2
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb).save(tmp_path / "bad.png")
    with pytest.raises(
        MaskDecodeError, match=r"bad.png: mask colours not in the class map.*#010203 \(1 px\)"
    ):
        read_label_mask(tmp_path / "bad.png", class_map)


def test_index_mask_values_must_be_known(tmp_path: Path) -> None:
    class_map = ClassMap.from_names(["background", "liver"])
    Image.fromarray(np.array([[0, 1], [1, 7]], dtype=np.uint8)).save(tmp_path / "i.png")
    with pytest.raises(MaskDecodeError, match=r"i.png: mask values \[7\]"):
        read_label_mask(tmp_path / "i.png", class_map)
