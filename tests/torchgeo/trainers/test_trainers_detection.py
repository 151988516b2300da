from pathlib import Path

import pytest
from vitp_torchgeo_helpers import fast_dev_args, run_torchgeo_cli, write_vhr10

from vitp_torchgeo.trainers import ViTPObjectDetectionTask

# torchmetrics' MeanAveragePrecision (the task's metric) needs pycocotools.
pytest.importorskip("pycocotools")


def test_example_yaml_with_torchgeo_vhr10_datamodule(
    tmp_path: Path, tiny_export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("skimage")  # VHR10.plot, used for validation figures
    monkeypatch.chdir(tmp_path)
    root = write_vhr10(tmp_path / "vhr10")
    overrides = [
        "--data.dict_kwargs.root", str(root), "--data.patch_size", "64",
        "--data.batch_size", "2",
        "--model.init_args.weights", str(tiny_export),
        "--model.init_args.num_classes", "3",
        "--model.init_args.pyramid_channels", "16",
    ]  # fmt: skip
    run_torchgeo_cli(["fit", *fast_dev_args("vhr10_vitp.yaml", *overrides)])


def test_configure_models_builds_faster_rcnn_on_vitp(tiny_export: Path) -> None:
    task = ViTPObjectDetectionTask(weights=str(tiny_export), num_classes=3, pyramid_channels=16)
    assert type(task.model).__name__ == "FasterRCNN"
    assert task.weights_result is not None and task.weights_result.missing_keys == []
    assert "weights" not in task.hparams
    with pytest.raises(ValueError, match="faster-rcnn"):
        ViTPObjectDetectionTask(model="retinanet")
