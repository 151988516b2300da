"""Scene prediction end to end on small synthetic georeferenced rasters."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from lightning.pytorch import Trainer
from torch import nn
from vitp_torchgeo_helpers import GRID, save_checkpoint, write_raster

from vitp_core.cli import main as vitp_main
from vitp_torchgeo.datamodules import ScenePredictionDataModule
from vitp_torchgeo.datasets.spec import RasterInputSpec
from vitp_torchgeo.prediction import ScenePredictionWriter, cog_problems, predict_scene
from vitp_torchgeo.trainers import (
    ViTPChangeDetectionTask,
    ViTPClassificationTask,
    ViTPObjectDetectionTask,
    ViTPSemanticSegmentationTask,
)

TINY = {"depth": 2, "embed_dim": 32, "num_heads": 2}
RGB = ["red", "green", "blue"]
SPEC = RasterInputSpec(
    bands=RGB, mean=[100.0] * 3, std=[50.0] * 3, patch_size=32, classes=["water", "land", "road"]
).to_dict()


def scene(path: Path, height: int = 150, width: int = 170, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 255, (3, height, width)).astype(np.uint8)
    data[:, :20, :30] = 0  # nodata corner
    return write_raster(path, data, nodata=0, descriptions=["blue", "green", "red"])


@pytest.fixture(scope="module")
def segmentation_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    task = ViTPSemanticSegmentationTask(
        backbone="vitp_tiny_patch16_224", backbone_kwargs=TINY, num_classes=3,
        bands=RGB, pyramid_channels=8, decoder_channels=8,
    )  # fmt: skip
    return save_checkpoint(task, tmp_path_factory.mktemp("ckpt") / "seg.ckpt", SPEC)


def test_segmentation_scene_to_cog(tmp_path: Path, segmentation_ckpt: Path) -> None:
    image = scene(tmp_path / "scene.tif")
    written = predict_scene(
        segmentation_ckpt, image, tmp_path / "classes.tif",
        probabilities=tmp_path / "probs.tif", accelerator="cpu",
    )  # fmt: skip
    assert [p.name for p in written] == ["classes.tif", "probs.tif"]
    with rasterio.open(image) as src, rasterio.open(written[0]) as out:
        assert out.crs == src.crs and out.transform == src.transform
        assert (out.width, out.height) == (src.width, src.height)
        assert out.nodata == 255 and out.dtypes[0] == "uint8"
        classes = out.read(1)
        assert (classes[:20, :30] == 255).all()  # input nodata -> output nodata
        assert set(np.unique(classes[20:, :])) <= {0, 1, 2}
        assert "water" in out.tags()["CLASSES"]
    with rasterio.open(written[1]) as probs:
        percent = probs.read().astype(int)
        assert probs.count == 3 and probs.descriptions[0] == "probability of water (%)"
        total = percent[:, 20:, :].sum(axis=0)
        assert np.abs(total - 100).max() <= 2  # percent rounding of 3 classes
    for path in written:
        assert cog_problems(path) == []
    with pytest.raises(FileExistsError, match="--overwrite"):
        predict_scene(segmentation_ckpt, image, tmp_path / "classes.tif", accelerator="cpu")


class PointwiseTask(ViTPSemanticSegmentationTask):
    """A model whose output at a pixel depends on that pixel (or a small neighbourhood) only."""

    kernel = 1

    def configure_models(self) -> None:
        torch.manual_seed(0)
        k = self.kernel
        self.model = nn.Sequential(
            nn.Conv2d(3, 8, k, padding=k // 2), nn.Tanh(), nn.Conv2d(8, 3, k, padding=k // 2)
        )

    @property
    def patch_size(self) -> int:
        return 1


class LocalTask(PointwiseTask):
    kernel = 3


def blended_vs_whole(task: PointwiseTask, image: Path, out: Path) -> tuple[np.ndarray, np.ndarray]:
    """Scene prediction (32 px windows, several strips) and the whole scene as one window."""
    task.data_spec = SPEC
    dm = ScenePredictionDataModule(str(image), strip_width=64, overlap=0.5, batch_size=16)
    writer = ScenePredictionWriter(str(out), probabilities=str(out.with_name("p.tif")))
    trainer = Trainer(
        accelerator="cpu", logger=False, callbacks=[writer], enable_progress_bar=False
    )
    trainer.predict(task, datamodule=dm)
    with rasterio.open(image) as src:
        pixels = src.read([3, 2, 1]).astype(np.float32)  # red, green, blue by name
    with torch.no_grad():
        x = torch.from_numpy((pixels - 100.0) / 50.0)[None]
        whole = task.model(x).softmax(dim=1)[0].numpy() * 100
    with rasterio.open(out.with_name("p.tif")) as probs:
        return probs.read().astype(float), whole


def test_blended_scene_equals_one_window_for_a_pointwise_model(tmp_path: Path) -> None:
    """Tolerance: 0.5 percentage point, the quantisation of the probability raster."""
    image = scene(tmp_path / "scene.tif", 90, 150)
    task = PointwiseTask(num_classes=3, bands=RGB, backbone_kwargs=TINY)
    blended, whole = blended_vs_whole(task, image, tmp_path / "c.tif")
    valid = blended[0] != 255
    assert valid.sum() == 90 * 150 - 20 * 30
    assert np.abs(blended[:, valid] - whole[:, valid]).max() <= 0.5 + 1e-3


def test_blended_scene_matches_one_window_away_from_borders(tmp_path: Path) -> None:
    """A 3x3-conv model sees padding within 2 px of a window edge; blending hides it.

    Stated tolerance: at pixels 2 px or more inside the scene and away from the nodata
    corner, the blended probabilities differ from one window over the whole scene by at
    most 2 percentage points (1.5 pp of window-edge effect plus 0.5 pp of quantisation).
    """
    image = scene(tmp_path / "scene.tif", 90, 150)
    task = LocalTask(num_classes=3, bands=RGB, backbone_kwargs=TINY)
    blended, whole = blended_vs_whole(task, image, tmp_path / "c.tif")
    inner = np.zeros(blended.shape[1:], dtype=bool)
    inner[2:-2, 2:-2] = True
    inner[:22, :32] = False
    assert np.abs(blended[:, inner] - whole[:, inner]).max() <= 2.0


def test_change_pair_misregistered_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    torch.manual_seed(0)
    task = ViTPChangeDetectionTask(
        backbone="vitp_tiny_patch16_224", backbone_kwargs=TINY, bands=RGB,
        pyramid_channels=8, decoder_channels=8,
    )  # fmt: skip
    spec = {**SPEC, "classes": ["no change", "change"]}
    ckpt = save_checkpoint(task, tmp_path / "change.ckpt", spec)
    first = scene(tmp_path / "a.tif", 64, 80)
    second = scene(tmp_path / "b.tif", 64, 81, seed=1)
    args = ["predict", str(ckpt), "--image", str(first), "--image2", str(second)]
    assert vitp_main([*args, "--out", str(tmp_path / "change.tif"), "--accelerator", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "a.tif and" in err and "b.tif are not co-registered" in err
    assert "size 80x64 vs 81x64 px" in err
    assert not (tmp_path / "change.tif").exists()
    good = scene(tmp_path / "b2.tif", 64, 80, seed=1)
    args = ["predict", str(ckpt), "--image", str(first), "--image2", str(good)]
    assert vitp_main([*args, "--out", str(tmp_path / "change.tif"), "--accelerator", "cpu"]) == 0
    with rasterio.open(tmp_path / "change.tif") as out:
        assert out.crs.to_string() == GRID["crs"] and set(np.unique(out.read(1))) <= {0, 1, 255}


def test_classification_scene_to_window_raster_and_geojson(tmp_path: Path) -> None:
    import geopandas as gpd

    torch.manual_seed(0)
    task = ViTPClassificationTask(
        backbone="vitp_tiny_patch16_224", backbone_kwargs=TINY, num_classes=3, bands=RGB
    )
    ckpt = save_checkpoint(task, tmp_path / "cls.ckpt", SPEC)
    image = scene(tmp_path / "scene.tif", 64, 100)
    written = predict_scene(
        ckpt, image, tmp_path / "windows.tif", vector=tmp_path / "windows.geojson",
        accelerator="cpu",
    )  # fmt: skip
    with rasterio.open(written[0]) as grid:
        assert (grid.width, grid.height) == (4, 2)  # ceil(100 / 32), ceil(64 / 32)
        assert grid.transform.a == 320.0 and grid.crs.to_string() == GRID["crs"]
        assert grid.read(1)[0, 0] == 255  # the window in the nodata corner is mostly nodata
    frame = gpd.read_file(written[1])  # 8 windows: 1 in the nodata corner, 2 mostly outside
    assert len(frame) == 5 and {"class", "class_name", "score", "p_water"} <= set(frame.columns)
    assert frame.crs.to_string() == GRID["crs"]
    assert tuple(frame.total_bounds) == pytest.approx(
        (500_000.0, 4_599_360.0, 500_960.0, 4_600_000.0)
    )


def test_detection_scene_to_merged_box_polygons(tmp_path: Path) -> None:
    import geopandas as gpd

    torch.manual_seed(0)
    task = ViTPObjectDetectionTask(
        backbone="vitp_tiny_patch16_224", backbone_kwargs=TINY, num_classes=3, bands=RGB,
        pyramid_channels=8,
    )  # fmt: skip
    spec = {**SPEC, "classes": ["background", "ship", "plane"]}
    ckpt = save_checkpoint(task, tmp_path / "det.ckpt", spec)
    image = scene(tmp_path / "scene.tif", 64, 96)
    (written,) = predict_scene(
        ckpt, image, tmp_path / "boxes.gpkg", min_score=0.0, accelerator="cpu"
    )
    assert gpd.list_layers(written)["name"].tolist() == ["boxes"]  # named after the file
    boxes = gpd.read_file(written)
    assert len(boxes) > 0 and boxes.crs.to_string() == GRID["crs"]
    assert set(boxes["class_name"]) <= {"ship", "plane"} and (boxes["score"] >= 0.0).all()
    west, south, east, north = boxes.total_bounds  # boxes clipped to the scene
    assert west >= 500_000.0 and east <= 500_960.0 and south >= 4_599_360.0 and north <= 4_600_000
    (empty,) = predict_scene(ckpt, image, tmp_path / "none.gpkg", min_score=1.01, accelerator="cpu")
    nothing = gpd.read_file(empty)  # no box: an empty layer with the same columns
    assert len(nothing) == 0 and {"class", "class_name", "score"} <= set(nothing.columns)
    assert nothing.crs.to_string() == GRID["crs"]
