"""Batches a ViTP TorchGeo task cannot compute on are refused in one line."""

from pathlib import Path

import pytest
import torch

from vitp_torchgeo.trainers.batch_checks import BatchError, check_image, check_targets


def _image(*shape: int) -> torch.Tensor:
    return torch.zeros(*shape)


def test_a_good_batch_passes() -> None:
    check_image(_image(2, 3, 16, 16), dates=1, in_chans=3, where="training batch 0")
    check_image(_image(2, 2, 6, 16, 16), dates=2, in_chans=6, where="training batch 0")
    mask = torch.tensor([[0, 1], [2, 255]])
    check_targets(
        {"mask": mask}, {"task": "multiclass", "num_classes": 3, "ignore_index": 255}, "x"
    )


@pytest.mark.parametrize(
    ("image", "dates", "bands", "expected"),
    [
        (_image(3, 16, 16), 1, 3, "expected (B, C, H, W)"),
        (_image(2, 3, 3, 16, 16), 2, 3, "expected (B, 2, C, H, W)"),
        (_image(2, 4, 16, 16), 1, 3, "4 bands, the ViT takes 3"),
        (torch.zeros(2, 3, 8, 8, dtype=torch.uint8), 1, 3, "expected a float tensor"),
        ([_image(3, 8, 8)], 1, 3, "is a list, not a tensor"),
    ],
)
def test_wrong_images_are_named(image: object, dates: int, bands: int, expected: str) -> None:
    with pytest.raises(BatchError, match=r"^training batch 7: ") as error:
        check_image(image, dates=dates, in_chans=bands, where="training batch 7")
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_nan_pixels_are_counted_and_refused() -> None:
    image = _image(1, 3, 8, 8)
    image[0, 1, :2, :2] = float("nan")
    image[0, 2, 0, 0] = float("inf")
    with pytest.raises(BatchError, match="5 NaN/Inf values"):
        check_image(image, dates=1, in_chans=3, where="validation batch 0")


def test_out_of_range_mask_values_are_named_with_the_allowed_classes() -> None:
    mask = torch.tensor([[0, 1], [7, 255]])
    hparams = {"task": "multiclass", "num_classes": 3, "ignore_index": None}
    with pytest.raises(BatchError, match=r"'mask' holds \[7, 255\].*\(0\.\.2\)"):
        check_targets({"mask": mask}, hparams, "training batch 0")
    with pytest.raises(BatchError, match=r"'label' holds \[2\].*binary"):
        check_targets({"label": torch.tensor([0, 2])}, {"task": "binary"}, "test batch 1")
    check_targets({"mask": torch.tensor([[0.0, 3.0]])}, {"task": "multilabel"}, "x")


def test_a_task_refuses_a_bad_batch_before_its_model_runs(tiny_export: Path) -> None:
    from vitp_torchgeo.trainers import ViTPSemanticSegmentationTask

    task = ViTPSemanticSegmentationTask(
        weights=str(tiny_export), num_classes=2, pyramid_channels=16, decoder_channels=16
    )
    batch = {"image": _image(2, 3, 32, 32), "mask": torch.full((2, 32, 32), 5)}
    with pytest.raises(BatchError, match=r"^training batch 0: 'mask' holds \[5\]"):
        task.on_train_batch_start(batch, 0)
    with pytest.raises(BatchError, match="4 bands, the ViT takes 3"):
        task.on_validation_batch_start({"image": _image(1, 4, 32, 32)}, 3)
    task.on_predict_batch_start({"image": _image(2, 3, 32, 32)}, 0)  # no targets needed
