"""Supervised ceiling of the staged study: the corpus's own labels, trained with heads.

The instruction corpus is built from labels; this module trains the same ViT directly on
them, with one linear head per source on the mean of the final patch tokens:

* a record with ``meta["label"]`` (RSSCN7 scenes, PneumoniaMNIST findings): softmax
  cross-entropy over that source's labels;
* a record with ``meta["classes"]`` (the classes present in a segmentation mask or a
  volume slice: Dubai, hippocampus): one sigmoid per class (multi-label BCE).

Records with neither (VQA-RAD's free-text answers) are not used. Records are drawn as
ViTP draws them (the mixture's repeats), so both see the same images as often.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from vitp_core.corpus.reader import read_corpus
from vitp_core.data.processor import IMAGENET_MEAN, IMAGENET_STD
from vitp_core.training.schedule import cosine_with_warmup, decay_parameter_groups

__all__ = ["Head", "SupervisedPretrainModule", "labelled_records"]


@dataclass(frozen=True)
class Head:
    """One source's labels: ``single`` (one class) or ``multi`` (classes present)."""

    kind: str
    classes: tuple[str, ...]


@dataclass(frozen=True)
class LabelledRecord:
    """An image with its source and label indices."""

    image: Path
    source: str
    targets: tuple[int, ...]


def labelled_records(mixture: Path) -> tuple[list[LabelledRecord], dict[str, Head]]:
    """The labelled records of a mixture (repeats included) and one head per source."""
    records, _ = read_corpus(mixture)
    found: dict[str, tuple[str, set[str]]] = {}
    for record in records:
        source = str(record.meta.get("source"))
        if "label" in record.meta:
            found.setdefault(source, ("single", set()))[1].add(str(record.meta["label"]))
        elif isinstance(record.meta.get("classes"), list):
            found.setdefault(source, ("multi", set()))[1].update(map(str, record.meta["classes"]))
    heads = {name: Head(kind, tuple(sorted(classes))) for name, (kind, classes) in found.items()}
    labelled = []
    for record in records:
        head = heads.get(str(record.meta.get("source")))
        if head is None or not record.images:
            continue
        names = [record.meta["label"]] if head.kind == "single" else record.meta["classes"]
        targets = tuple(head.classes.index(str(n)) for n in names)
        labelled.append(LabelledRecord(record.images[0], str(record.meta["source"]), targets))
    return labelled, heads


class _Images(Dataset):
    def __init__(self, records: list[LabelledRecord], size: int) -> None:
        self.records = records
        self.size = size
        self.mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
        self.std = torch.tensor(IMAGENET_STD)[:, None, None]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from downstream_pretrain import resized_image

        record = self.records[index]
        image = (resized_image(record.image, self.size) - self.mean) / self.std
        return {"image": image, "source": record.source, "targets": list(record.targets)}


def _collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "image": torch.stack([i["image"] for i in items]),
        "source": [i["source"] for i in items],
        "targets": [i["targets"] for i in items],
    }


class SupervisedPretrainModule(L.LightningModule):
    """The ViT with one linear head per labelled source.

    Args:
        vit: The timm ViT to train (from the shared start).
        heads: Source name -> :class:`Head`.
        lr: Peak AdamW learning rate of the ViT.
        head_lr_scale: Heads' learning rate relative to ``lr`` (they start from zero).
    """

    def __init__(
        self, vit: nn.Module, heads: dict[str, Head], lr: float, head_lr_scale: float = 4.0
    ) -> None:
        super().__init__()
        self.vit = vit
        self.lr = lr
        self.head_lr_scale = head_lr_scale
        self.specs = heads
        self.heads = nn.ModuleDict(
            {name: nn.Linear(vit.embed_dim, len(h.classes)) for name, h in heads.items()}
        )

    def loader(
        self,
        records: list[LabelledRecord],
        size: int,
        steps: int,
        batch: int,
        generator: torch.Generator,
    ) -> DataLoader:
        """Batches drawn with replacement, ``steps`` x ``batch`` samples in all."""
        sampler = RandomSampler(
            range(len(records)), replacement=True, num_samples=steps * batch, generator=generator
        )
        return DataLoader(
            _Images(records, size),
            batch_size=batch,
            sampler=sampler,
            drop_last=True,
            collate_fn=_collate,
        )

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        """Sum over sources of the mean loss of that source's samples in the batch."""
        tokens = self.vit.forward_features(batch["image"])[:, self.vit.num_prefix_tokens :]
        features = tokens.mean(1)
        losses = []
        for name, head in self.specs.items():
            rows = [i for i, s in enumerate(batch["source"]) if s == name]
            if not rows:
                continue
            logits = self.heads[name](features[rows])
            if head.kind == "single":
                target = torch.tensor([batch["targets"][i][0] for i in rows], device=self.device)
                losses.append(nn.functional.cross_entropy(logits, target))
            else:
                target = torch.zeros_like(logits)
                for row, i in enumerate(rows):
                    target[row, list(batch["targets"][i])] = 1.0
                losses.append(nn.functional.binary_cross_entropy_with_logits(logits, target))
        loss = torch.stack(losses).sum()
        self.log("train/loss", loss)
        return loss

    def configure_optimizers(self) -> dict[str, Any]:
        """AdamW with warmup + cosine; the heads learn faster than the ViT."""
        groups = decay_parameter_groups(self.vit, 0.05)
        for group in groups:
            group["lr"] = self.lr
        groups.append({"params": self.heads.parameters(), "lr": self.lr * self.head_lr_scale})
        optimizer = torch.optim.AdamW(groups, lr=self.lr)
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        scheduler = cosine_with_warmup(optimizer, total, 0.1, 0.0)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
