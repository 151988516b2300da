"""The multispectral change example as a user runs it: generate, fit, predict (two ways)."""

import runpy
import sys
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest
import rasterio
import torch
from vitp_torchgeo_helpers import EXAMPLES, run_torchgeo_cli

from vitp_core.cli import main as vitp_main
from vitp_torchgeo.prediction import cog_problems

BANDS = ["blue", "green", "red", "nir", "swir16", "swir22"]
DATA = Path("runs/data/landsat_change")
RUN = Path("runs/torchgeo/multispectral_change")


def test_six_band_pair_fits_and_predicts_with_the_envi_second_date(
    tmp_path: Path, tiny_export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    script = EXAMPLES / "multispectral" / "make_synthetic_scene.py"
    argv = [str(script), "--out", str(DATA), "--size", "96"]
    # GDAL can keep an earlier in-process torchgeo run's EMPTY_DIR as an option; ENVI writes
    # need directory reading (a user runs the generator as its own process)
    with patch.object(sys, "argv", argv), rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="FALSE"):
        runpy.run_path(str(script), run_name="__main__")
    run_torchgeo_cli(
        [
            "fit", "--config", str(EXAMPLES / "multispectral_change.yaml"),
            "--trainer.accelerator", "cpu", "--trainer.max_epochs", "1",
            "--model.init_args.weights", str(tiny_export),  # RGB: adapted to 6 bands by name
            "--model.init_args.pyramid_channels", "8", "--model.init_args.decoder_channels", "8",
            "--data.init_args.patch_size", "32", "--data.init_args.batch_size", "4",
        ]
    )  # fmt: skip
    record = torch.load(RUN / "last.ckpt", map_location="cpu", weights_only=True)["vitp"]["data"]
    assert record["bands"] == BANDS and record["ignore_index"] == 255
    assert len(record["mean"]) == 6 and record["patch_size"] == 32  # mean: auto, from the data
    assert record["classes"] == ["no change", "change"]

    # The short form, as the example's header gives it (second date: the ENVI copy).
    args = [
        "predict", str(RUN / "last.ckpt"),
        "--image", str(DATA / "A/scene.tif"), "--image2", str(DATA / "envi/scene_B.img"),
        "--out", str(RUN / "change.tif"),
        "--probabilities", str(RUN / "change_probability.tif"), "--accelerator", "cpu",
    ]  # fmt: skip
    assert vitp_main(args) == 0
    with rasterio.open(DATA / "A/scene.tif") as src, rasterio.open(RUN / "change.tif") as out:
        assert out.crs == src.crs and out.transform == src.transform
        assert (out.width, out.height) == (96, 96)
        change = out.read(1)
        assert (change[:2, :] == 255).all() and (change[:, -2:] == 255).all()  # nodata border
        assert set(np.unique(change[2:, :-2]).tolist()) <= {0, 1}
    with rasterio.open(RUN / "change_probability.tif") as probability:
        assert probability.count == 1
        assert probability.descriptions == ("probability of change (%)",)
    assert cog_problems(RUN / "change.tif") == []
    assert cog_problems(RUN / "change_probability.tif") == []

    # The same through TorchGeo's CLI: the same change map.
    predict = ["--config", str(EXAMPLES / "multispectral_change_predict.yaml")]
    config = ["--config", str(EXAMPLES / "multispectral_change.yaml")]
    run_torchgeo_cli(["predict", *config, *predict, "--trainer.accelerator", "cpu"])
    with rasterio.open(RUN / "change.tif") as again:
        np.testing.assert_array_equal(again.read(1), change)
    assert (RUN / "change.config.yaml").is_file() and not Path("config.yaml").exists()
