from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image
from vitp_torchgeo_helpers import write_dubai

from vitp_torchgeo.datasets import DubaiSegmentation
from vitp_torchgeo.datasets.dubai import _window_starts


def test_window_starts_cover_without_padding() -> None:
    assert _window_starts(80, 32) == [0, 32, 48]
    assert _window_starts(64, 32) == [0, 32]


def test_windows_and_colour_decoding(tmp_path: Path) -> None:
    root = write_dubai(tmp_path / "dubai")
    dataset = DubaiSegmentation(root, "val", tile_size=32)
    assert len(dataset) == 3 * 3  # one 80x72 image, windows at 0/32/48 and 0/32/40
    sample = dataset[len(dataset) - 1]
    assert sample["image"].shape == (3, 32, 32) and sample["mask"].shape == (32, 32)
    # the mask colours decode to the class indices, black to "unlabeled"
    rgb = np.asarray(Image.open(root / "tile_2" / "masks" / "image_part_001.png").convert("RGB"))
    window = rgb[40:72, 48:80]
    unlabeled = DubaiSegmentation.classes.index("unlabeled")
    for index, name in enumerate(DubaiSegmentation.classes):
        colour = [int(DubaiSegmentation.colours[name][i : i + 2], 16) for i in (1, 3, 5)]
        where = (window == colour).all(-1)
        assert (sample["mask"].numpy()[where] == index).all()
    assert (sample["mask"].numpy()[(window == 0).all(-1)] == unlabeled).all()
    assert {len(DubaiSegmentation(root, s, tile_size=32)) for s in ("train", "test")} == {45, 18}
    plt.close(dataset.plot({**sample, "prediction": sample["mask"]}))


def test_unknown_colour_names_the_file(tmp_path: Path) -> None:
    root = write_dubai(tmp_path / "dubai")
    mask = root / "tile_2" / "masks" / "image_part_001.png"
    Image.fromarray(np.full((72, 80, 3), 7, dtype=np.uint8)).save(mask)
    with pytest.raises(ValueError, match=r"image_part_001.png.*#070707"):
        DubaiSegmentation(root, "val", tile_size=32)[0]


@pytest.mark.data
def test_real_dubai_masks_use_the_documented_colours(vitp_data: Path) -> None:
    dataset = DubaiSegmentation(vitp_data / "rs" / "dubai", "val", tile_size=256)
    assert len(dataset) == 54  # 9 images of tile 2, 4-9 windows each
    firsts = [i for i, (_, _, top, left) in enumerate(dataset.windows) if top == left == 0]
    labels = np.concatenate([dataset[i]["mask"].numpy().ravel() for i in firsts])  # no error
    assert set(np.unique(labels)) <= set(range(len(DubaiSegmentation.classes)))
