"""Short fine-tunes of the downstream study (held-out images only).

* RSSCN7 test split: the ViTP TorchGeo classification task, trained on the even half of
  every class, accuracy on the odd half.
* Dubai tiles 7-8: the ViTP TorchGeo segmentation task (simple feature pyramid + UPerNet)
  trained on tile 7, mean IoU (macro over the 5 labelled classes) on tile 8.
* Hippocampus volumes 200+: the MONAI-style ViTP UNETR (2D weights inflated to 3D),
  trained on the first held-out volumes, mean Dice (anterior, posterior) on the last.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import numpy as np
import torch
from downstream_config import Budget
from downstream_corpora import HIPPOCAMPUS_PRETRAIN_MAX_ID, hippocampus_id
from downstream_frozen import normalise, rsscn7_halves
from monai.losses import DiceCELoss
from monai.metrics import DiceMetric
from monai.networks.utils import one_hot
from monai.transforms import Compose, LoadImage, NormalizeIntensity, ResizeWithPadOrCrop
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics import JaccardIndex, MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from vitp_monai.networks import VitpUNETR
from vitp_torchgeo.datamodules import DubaiSegmentationDataModule
from vitp_torchgeo.datasets import DubaiSegmentation
from vitp_torchgeo.trainers import ViTPClassificationTask, ViTPSemanticSegmentationTask

__all__ = ["dubai_miou", "hippocampus_dice", "rsscn7_finetune_acc"]


def _trainer(budget: Budget, steps: int, **kwargs: Any) -> L.Trainer:
    return L.Trainer(
        max_steps=steps,
        accelerator=budget.accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=1,
        **kwargs,
    )


# --- RSSCN7 ------------------------------------------------------------------------------


class _DictDataset(TensorDataset):
    """``TensorDataset`` yielding TorchGeo sample dicts ``{"image", "label"}``."""

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image, label = super().__getitem__(index)
        return {"image": image, "label": label}


def rsscn7_finetune_acc(weights: Path, budget: Budget, data: Path, seed: int) -> float:
    """Fine-tune backbone + head on the RSSCN7 test split's even half; accuracy on the odd.

    Args:
        weights: ``vitp export`` file of the backbone.
        budget: Steps, batch size and accelerator.
        data: Data root.
        seed: Seed of the head initialisation and the batch order.

    Returns:
        Accuracy in ``[0, 1]``.
    """
    L.seed_everything(seed, workers=True, verbose=False)
    train, held, _ = rsscn7_halves(data, budget.img_size)

    def loader(split: Any, shuffle: bool) -> DataLoader:
        dataset = _DictDataset(normalise(split.images), torch.from_numpy(split.labels))
        return DataLoader(dataset, batch_size=budget.finetune_batch, shuffle=shuffle)

    task = ViTPClassificationTask(
        weights=str(weights),
        num_classes=7,
        global_pool="avg",
        backbone_kwargs={"fc_norm": False},  # keep the pretrained final norm, then pool
        lr=1e-3,
        layer_decay=0.75,
        drop_path_rate=0.0,
    )
    _trainer(budget, budget.finetune_steps).fit(task, loader(train, True), loader(held, False))
    task.eval()
    metric = MulticlassAccuracy(num_classes=7, average="micro")
    with torch.no_grad():
        for batch in loader(held, False):
            metric.update(task(batch["image"].to(task.device)).cpu(), batch["label"])
    return float(metric.compute())


# --- Dubai -------------------------------------------------------------------------------


class HeldOutDubai(DubaiSegmentation):
    """Dubai tiles never pretrained on: fine-tune on tile 7, test on tile 8."""

    split_tiles: ClassVar[dict[str, tuple[int, ...]]] = {
        "train": (7,),
        "val": (8,),
        "test": (8,),
    }
    #: Decoded (image, mask) arrays shared by every instance: each (method, seed) builds
    #: new datasets, and decoding the large JPEG/PNG tiles dominates a short fine-tune.
    _decoded: ClassVar[dict[Path, tuple[np.ndarray, np.ndarray]]] = {}

    def _load(self, image: Path, mask: Path) -> tuple[np.ndarray, np.ndarray]:
        if image not in self._decoded:
            self._decoded[image] = super()._load(image, mask)
        return self._decoded[image]


class HeldOutDubaiDataModule(DubaiSegmentationDataModule):
    """:class:`DubaiSegmentationDataModule` over :class:`HeldOutDubai`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset_class = HeldOutDubai


class MacroIoUSegmentationTask(ViTPSemanticSegmentationTask):
    """ViTP segmentation whose metrics are macro-averaged (mIoU), not TorchGeo's micro."""

    def configure_metrics(self) -> None:
        """Accuracy and IoU averaged over classes (the ignored class excluded)."""
        kwargs = {
            "task": "multiclass",
            "num_classes": self.hparams["num_classes"],
            "ignore_index": self.hparams["ignore_index"],
        }
        metrics = MetricCollection(
            {
                "acc": MulticlassAccuracy(
                    num_classes=self.hparams["num_classes"],
                    ignore_index=self.hparams["ignore_index"],
                    average="micro",
                ),
                "miou": JaccardIndex(average="macro", **kwargs),
            }
        )
        self.train_metrics = metrics.clone(prefix="train_")
        self.val_metrics = metrics.clone(prefix="val_")
        self.test_metrics = metrics.clone(prefix="test_")


def dubai_miou(weights: Path, budget: Budget, data: Path, seed: int) -> float:
    """Fine-tune segmentation on Dubai tile 7; mIoU on tile 8.

    Args:
        weights: ``vitp export`` file of the backbone.
        budget: Window size, steps, batch size, test batches, accelerator.
        data: Data root.
        seed: Seed of the decoder initialisation and the batch order.

    Returns:
        Mean IoU over the 5 labelled classes (``unlabeled`` ignored), in ``[0, 1]``.
    """
    L.seed_everything(seed, workers=True, verbose=False)
    datamodule = HeldOutDubaiDataModule(
        root=str(data / "rs" / "dubai"), tile_size=budget.seg_tile, batch_size=budget.seg_batch
    )
    ignore = DubaiSegmentation.classes.index("unlabeled")
    task = MacroIoUSegmentationTask(
        weights=str(weights),
        num_classes=len(DubaiSegmentation.classes),
        ignore_index=ignore,
        lr=1e-3,
        pyramid_channels=64,
        decoder_channels=64,
        drop_path_rate=0.0,
    )
    trainer = _trainer(budget, budget.seg_steps, limit_test_batches=budget.seg_test_batches)
    trainer.fit(task, datamodule=datamodule)
    (results,) = trainer.test(task, datamodule=datamodule, verbose=False)
    return float(results["test_miou"])


# --- Hippocampus -------------------------------------------------------------------------


@functools.cache
def _held_out_volumes(
    root: Path, size: tuple[int, int, int]
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Hippocampus volumes with id > 199: ``(N, 1, *size)`` images, labels, ids."""
    pairs = sorted(
        (hippocampus_id(path), path)
        for path in (root / "images").glob("*.nii*")
        if hippocampus_id(path) > HIPPOCAMPUS_PRETRAIN_MAX_ID
    )
    load = LoadImage(image_only=True, ensure_channel_first=True)
    fit = ResizeWithPadOrCrop(size)
    image_tf = Compose([NormalizeIntensity(nonzero=True), fit])
    images, labels = [], []
    for _, path in pairs:
        images.append(torch.as_tensor(image_tf(load(path))).float())
        labels.append(torch.as_tensor(fit(load(root / "labels" / path.name))).long())
    return torch.stack(images), torch.stack(labels), [i for i, _ in pairs]


def hippocampus_dice(weights: Path, budget: Budget, data: Path, seed: int) -> float:
    """Fine-tune the ViTP UNETR on held-out volumes; mean Dice on the last held-out ones.

    Args:
        weights: ``vitp export`` file of the 2D backbone (inflated to 3D).
        budget: Volume size, counts, steps, batch size.
        data: Data root.
        seed: Seed of the decoder initialisation and the batch order.

    Returns:
        Mean Dice of anterior and posterior hippocampus over the test volumes, in ``[0, 1]``.
    """
    L.seed_everything(seed, workers=True, verbose=False)
    device = torch.device(
        "cuda" if budget.accelerator != "cpu" and torch.cuda.is_available() else "cpu"
    )
    images, labels, _ = _held_out_volumes(data / "med" / "hippocampus", budget.vol_size)
    train = slice(0, budget.vol_train)
    test = slice(len(images) - budget.vol_test, len(images))
    net = VitpUNETR(
        in_channels=1,
        out_channels=3,
        img_size=budget.vol_size,
        backbone=None,
        feature_size=8,
        spatial_dims=3,
        pretrained=str(weights),
    ).to(device)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.AdamW(net.parameters(), lr=5e-4, weight_decay=0.01)
    generator = torch.Generator().manual_seed(seed)
    train_x, train_y = images[train], labels[train]
    net.train()
    for _ in range(budget.vol_steps):
        pick = torch.randint(len(train_x), (budget.vol_batch,), generator=generator)
        optimizer.zero_grad()
        loss = loss_fn(net(train_x[pick].to(device)), train_y[pick].to(device))
        loss.backward()
        optimizer.step()
    net.eval()
    dice = DiceMetric(include_background=False, reduction="mean_batch")
    with torch.no_grad():
        for start in range(test.start, test.stop, 4):
            x, y = (
                images[start : min(start + 4, test.stop)],
                labels[start : min(start + 4, test.stop)],
            )
            prediction = net(x.to(device)).argmax(1, keepdim=True).cpu()
            dice(one_hot(prediction, 3), one_hot(y, 3))
    per_class = dice.aggregate()
    return float(np.nanmean(per_class.numpy()))
