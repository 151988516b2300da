"""Pretrain one backbone of the downstream study: random init, MAE or ViTP.

Every method gets the same ViT shape, the same images (the records of the same mixture),
the same optimizer steps x batch, AdamW with the same warmup + cosine schedule and peak
learning rate. The result is a ``vitp export`` file (safetensors + JSON sidecar) and a
JSON of the per-step loss and the wall-clock time.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from downstream_config import Budget, Method
from lightly.models import utils as lightly_utils
from lightly.models.modules import MaskedVisionTransformerTIMM
from lightly.models.modules.masked_vision_transformer_decoder_timm import (
    MaskedVisionTransformerDecoderTIMM,
)
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from vitp_core.atomic_io import atomic_write_json
from vitp_core.backbone import create_backbone
from vitp_core.corpus.images import load_image
from vitp_core.corpus.reader import read_corpus
from vitp_core.data.collate import collate_samples
from vitp_core.data.datamodule import InstructionDataModule
from vitp_core.data.processor import IMAGENET_MEAN, IMAGENET_STD
from vitp_core.data.tiling import resize_image
from vitp_core.export import export_backbone
from vitp_core.training.module import ViTPPretrainModule, metadata_from_hparams
from vitp_core.training.schedule import cosine_with_warmup, decay_parameter_groups

__all__ = ["image_reliance", "pretrain_backbone"]

WARMUP_RATIO = 0.1
WEIGHT_DECAY = 0.05


class _LossRecorder(L.Callback):
    """Keeps the training loss of every optimizer step."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.losses.append(float(loss.detach()))


def _hparams(budget: Budget, method: Method, corpus: str) -> dict[str, Any]:
    return {
        "vit": budget.backbone,
        "vit_kwargs": dict(budget.backbone_kwargs),
        "img_size": budget.img_size,
        "vrl_ratio": method.vrl_ratio if method.kind == "vitp" else None,
        "vrl_apply_prob": method.vrl_apply_prob if method.kind == "vitp" else None,
        "vrl_mode": method.vrl_mode if method.kind == "vitp" else None,
        "corpus_name": corpus,
    }


def _new_vit(budget: Budget) -> nn.Module:
    return create_backbone(
        budget.backbone, img_size=budget.img_size, **dict(budget.backbone_kwargs)
    )


def _trainer(budget: Budget, recorder: _LossRecorder) -> L.Trainer:
    return L.Trainer(
        max_steps=budget.steps,
        accelerator=budget.accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[recorder],
        num_sanity_val_steps=0,
        precision="bf16-mixed" if budget.accelerator != "cpu" else "32-true",
    )


def image_reliance(module: ViTPPretrainModule, mixture: Path, records: int = 96) -> dict:
    """Answer loss with each record's own image vs another record's image (eval mode).

    A language model that ignores the image scores the same on both; the gap is how much
    the answers the LM learned depend on what the ViT sees.

    Args:
        module: The trained ViTP module.
        mixture: The pretraining mixture (every ``len // records``-th record is used).
        records: How many records to score.

    Returns:
        ``{"own_image": loss, "other_image": loss, "gap": other - own}`` (nats per token).
    """
    usable, _ = read_corpus(mixture)
    chosen = usable[:: max(len(usable) // records, 1)][:records]
    own = [module.processor(record) for record in chosen]
    other = [
        dataclasses.replace(s, pixel_values=own[(i + 1) % len(own)].pixel_values)
        for i, s in enumerate(own)
    ]
    module.eval()
    losses = {}
    with torch.no_grad():
        for name, samples in (("own_image", own), ("other_image", other)):
            total = 0.0
            for start in range(0, len(samples), 16):
                chunk = samples[start : start + 16]
                batch = collate_samples(chunk, module.tokenizer.pad_token_id).batch
                total += float(module.model(batch).loss) * len(chunk)
            losses[name] = total / len(samples)
    return {**losses, "gap": losses["other_image"] - losses["own_image"]}


def _pretrain_vitp(
    budget: Budget, method: Method, mixture: Path, seed: int, tokenizer: str
) -> tuple[ViTPPretrainModule, list[float]]:
    module = ViTPPretrainModule(
        tokenizer=tokenizer,
        vit=budget.backbone,
        vit_kwargs=dict(budget.backbone_kwargs),
        img_size=budget.img_size,
        lm_config=dict(budget.lm_config),
        vrl_ratio=method.vrl_ratio,
        vrl_apply_prob=method.vrl_apply_prob,
        vrl_mode=method.vrl_mode,
        max_seq_len=budget.max_seq_len,
        lr=budget.lr,
        vit_lr_scale=budget.vitp_vit_lr_scale,
        weight_decay=WEIGHT_DECAY,
        warmup_ratio=WARMUP_RATIO,
        corpus_name=mixture.stem,
    )
    data = InstructionDataModule(
        corpus=str(mixture), processor=module.processor, batch_size=budget.batch_size, seed=seed
    )
    recorder = _LossRecorder()
    _trainer(budget, recorder).fit(module, datamodule=data)
    return module, recorder.losses


class _ImageDataset(Dataset):
    """Corpus images resized to the pretraining size and normalised like ViTP's processor."""

    def __init__(self, images: list[Path], size: int) -> None:
        self.images = images
        self.size = size
        self.mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
        self.std = torch.tensor(IMAGENET_STD)[:, None, None]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = torch.from_numpy(load_image(self.images[index]))
        if image.shape[0] == 1:
            image = image.expand(3, -1, -1)
        image = resize_image(image[:3], self.size, self.size)
        return (image - self.mean) / self.std


class MAEPretrainModule(L.LightningModule):
    """Masked autoencoder (He et al. 2022) over a timm ViT, from lightly's MAE modules.

    Args:
        vit: The timm ViT to pretrain.
        decoder: Decoder width, depth and heads.
        mask_ratio: Share of patches masked.
        lr: Peak AdamW learning rate.
    """

    def __init__(
        self, vit: nn.Module, decoder: tuple[int, int, int], mask_ratio: float, lr: float
    ) -> None:
        super().__init__()
        width, depth, heads = decoder
        self.lr = lr
        self.mask_ratio = mask_ratio
        self.patch_size = int(vit.patch_embed.patch_size[0])
        self.backbone = MaskedVisionTransformerTIMM(vit=vit)
        self.decoder_embed = nn.Linear(vit.embed_dim, width)
        self.decoder = MaskedVisionTransformerDecoderTIMM(
            num_patches=vit.patch_embed.num_patches,
            embed_dim=width,
            depth=depth,
            num_heads=heads,
            num_prefix_tokens=vit.num_prefix_tokens,
        )
        self.decoder_pred = nn.Linear(width, self.patch_size**2 * 3)

    def training_step(self, images: torch.Tensor, batch_idx: int) -> torch.Tensor:
        """Reconstruct the masked patches (per-patch normalised pixels, MSE)."""
        batch, length = images.shape[0], self.backbone.sequence_length
        idx_keep, idx_mask = lightly_utils.random_token_mask(
            size=(batch, length), mask_ratio=self.mask_ratio, device=images.device
        )
        encoded = self.decoder_embed(self.backbone.encode(images=images, idx_keep=idx_keep))
        tokens = lightly_utils.repeat_token(self.decoder.mask_token, (batch, length))
        tokens = lightly_utils.set_at_index(tokens, idx_keep, encoded.type_as(tokens))
        decoded = self.decoder(tokens)
        prediction = self.decoder_pred(lightly_utils.get_at_index(decoded, idx_mask))
        patches = lightly_utils.patchify(images, self.patch_size)
        target = lightly_utils.get_at_index(patches, idx_mask - self.decoder.num_prefix_tokens)
        mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
        loss = nn.functional.mse_loss(prediction, (target - mean) / (var + 1e-6).sqrt())
        self.log("train/loss", loss)
        return loss

    def configure_optimizers(self) -> dict[str, Any]:
        """AdamW with warmup + cosine, as the ViTP module."""
        optimizer = torch.optim.AdamW(decay_parameter_groups(self, WEIGHT_DECAY), lr=self.lr)
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        scheduler = cosine_with_warmup(optimizer, total, WARMUP_RATIO, 0.0)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def _pretrain_mae(budget: Budget, images: list[Path], seed: int) -> tuple[nn.Module, list[float]]:
    vit = _new_vit(budget)
    module = MAEPretrainModule(vit, budget.mae_decoder, mask_ratio=0.75, lr=budget.lr)
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(
        _ImageDataset(images, budget.img_size),
        batch_size=budget.batch_size,
        sampler=RandomSampler(
            range(len(images)),
            replacement=True,
            num_samples=budget.steps * budget.batch_size,
            generator=generator,
        ),
        drop_last=True,
    )
    recorder = _LossRecorder()
    _trainer(budget, recorder).fit(module, train_dataloaders=loader)
    return vit, recorder.losses


def pretrain_backbone(
    budget: Budget,
    method: Method,
    mixture: Path,
    images: list[Path],
    seed: int,
    out: Path,
    tokenizer: str = "bytes",
) -> dict[str, Any]:
    """Pretrain (or, for ``random``, only initialise) one backbone and export it.

    Args:
        budget: Study budget (shape, steps, batch, learning rate).
        method: The pretraining method.
        mixture: Pretraining mixture ``.json`` (ViTP reads its records).
        images: The images of the mixture's records (MAE samples them).
        seed: Seed of the initialisation and the data order.
        out: Export path (``.safetensors``); ``out.with_suffix('.log.json')`` gets the log.
        tokenizer: ViTP's tokenizer (``"bytes"`` or a tokenizer folder).

    Returns:
        ``{"method", "seed", "domain", "steps", "batch_size", "wall_s", "losses",
        "image_reliance"}`` (the last from :func:`image_reliance`, ViTP only; its time is
        not in ``wall_s``).
    """
    L.seed_everything(seed, workers=True, verbose=False)
    start = time.perf_counter()
    module = None
    if method.kind == "random":
        vit, losses = _new_vit(budget), []
    elif method.kind == "mae":
        vit, losses = _pretrain_mae(budget, images, seed)
    else:
        module, losses = _pretrain_vitp(budget, method, mixture, seed, tokenizer)
        vit = module.model.vit
    wall = time.perf_counter() - start
    reliance = image_reliance(module, mixture) if module is not None else None
    steps = 0 if method.kind == "random" else len(losses)
    meta = metadata_from_hparams(
        _hparams(budget, method, mixture.stem),
        vit.float().cpu(),
        steps,
        {"name": mixture.stem, "method": method.name, "seed": seed},
    )
    export_backbone(vit, out, meta)
    log = {
        "method": method.name,
        "seed": seed,
        "domain": mixture.stem,
        "steps": steps,
        "batch_size": budget.batch_size,
        "wall_s": round(wall, 2),
        "losses": losses,
        "image_reliance": reliance,
    }
    atomic_write_json(out.with_suffix(".log.json"), log)
    return log
