"""The one ViTP task base: fit without validation, checkpoint record, predict_step."""

from pathlib import Path

import torch
from lightning.pytorch import Trainer
from vitp_torchgeo_helpers import BANDS, write_change_folder

from vitp_torchgeo.datamodules import RasterChangeDetectionDataModule
from vitp_torchgeo.prediction.run import load_task
from vitp_torchgeo.trainers import (
    ViTPChangeDetectionTask,
    ViTPClassificationTask,
    ViTPObjectDetectionTask,
    ViTPSemanticSegmentationTask,
)
from vitp_torchgeo.trainers.base import TRAIN_EPOCH_LOSS, ViTPBaseTask


def test_every_trainer_shares_the_base() -> None:
    for cls in (
        ViTPClassificationTask,
        ViTPSemanticSegmentationTask,
        ViTPChangeDetectionTask,
        ViTPObjectDetectionTask,
    ):
        assert issubclass(cls, ViTPBaseTask)
        assert "predict_step" not in vars(cls) and "configure_optimizers" not in vars(cls)


def test_sparse_binary_change_fits_without_validation_and_records_its_input(
    tmp_path: Path, tiny_export: Path
) -> None:
    root = write_change_folder(tmp_path / "pair", size=64)
    dm = RasterChangeDetectionDataModule(
        root=str(root), bands=BANDS, patch_size=32, stride=16, ignore_index=255, batch_size=2
    )
    task = ViTPChangeDetectionTask(
        weights=str(tiny_export), in_channels=4, bands=BANDS, loss="bce", ignore_index=255,
        pyramid_channels=8, decoder_channels=8,
    )  # fmt: skip
    assert task.weights_result.band_adaptation.method == "partial"  # RGB kernels by name
    trainer = Trainer(
        max_epochs=2, accelerator="cpu", logger=False, enable_progress_bar=False,
        default_root_dir=str(tmp_path),
    )  # fmt: skip
    trainer.fit(task, datamodule=dm)  # TorchGeo's plateau schedule would ask for val_loss
    assert trainer.lr_scheduler_configs[0].monitor == TRAIN_EPOCH_LOSS
    assert torch.isfinite(trainer.callback_metrics[TRAIN_EPOCH_LOSS])
    ckpt = tmp_path / "change.ckpt"
    trainer.save_checkpoint(ckpt, weights_only=True)
    loaded = load_task(ckpt)
    assert isinstance(loaded, ViTPChangeDetectionTask)
    assert loaded.data_spec["bands"] == BANDS and loaded.data_spec["ignore_index"] == 255
    assert len(loaded.data_spec["mean"]) == 4 and loaded.data_spec["patch_size"] == 32
    batch = next(iter(dm.train_dataloader()))
    with torch.no_grad():
        probabilities = loaded.predict_step(batch, 0)
    assert probabilities.shape == (2, 1, 32, 32)
    assert (probabilities >= 0).all() and (probabilities <= 1).all()
