from pathlib import Path

import torch
from lightning.pytorch import Trainer
from vitp_torchgeo_helpers import write_dubai, write_levircd, write_rsscn7

from vitp_torchgeo.datamodules import (
    DubaiSegmentationDataModule,
    LEVIRCDSamplesDataModule,
    RSSCN7DataModule,
)


def _first_batch(datamodule, stage: str = "fit") -> dict[str, torch.Tensor]:
    datamodule.trainer = Trainer(logger=False, enable_checkpointing=False)
    datamodule.trainer.training = True
    datamodule.setup(stage)
    batch = next(iter(datamodule.train_dataloader()))
    return datamodule.on_after_batch_transfer(batch, 0)


def test_rsscn7_normalises_and_resizes(tmp_path: Path) -> None:
    root = write_rsscn7(tmp_path / "rsscn7", per_class=4)
    batch = _first_batch(RSSCN7DataModule(batch_size=4, image_size=28, root=str(root)))
    assert batch["image"].shape == (4, 3, 28, 28)
    assert batch["image"].abs().max() < 5  # ImageNet-normalised, not 0-255


def test_dubai_batches(tmp_path: Path) -> None:
    root = write_dubai(tmp_path / "dubai")
    batch = _first_batch(DubaiSegmentationDataModule(batch_size=2, tile_size=32, root=str(root)))
    assert batch["image"].shape == (2, 3, 32, 32) and batch["mask"].shape == (2, 32, 32)


def test_levircd_mask_keeps_one_frame_through_video_augmentation(tmp_path: Path) -> None:
    root = write_levircd(tmp_path / "levir")
    batch = _first_batch(LEVIRCDSamplesDataModule(batch_size=2, patch_size=16, root=str(root)))
    assert batch["image"].shape == (2, 2, 3, 16, 16)
    assert batch["mask"].shape == (2, 1, 16, 16)
