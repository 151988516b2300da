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
from lightning.pytorch.callbacks import ModelCheckpoint
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from vitp_core.atomic_io import atomic_path, atomic_write_json
from vitp_core.backbone import create_backbone
from vitp_core.corpus.images import load_image
from vitp_core.data.datamodule import InstructionDataModule
from vitp_core.data.processor import IMAGENET_MEAN, IMAGENET_STD
from vitp_core.data.tiling import resize_image
from vitp_core.export import export_backbone, load_backbone
from vitp_core.training.module import ViTPPretrainModule, metadata_from_hparams
from vitp_core.training.reliance import ImageRelianceMonitor
from vitp_core.training.schedule import cosine_with_warmup, decay_parameter_groups

__all__ = [
    "MAEPretrainModule",
    "align_language_model",
    "pretrain_backbone",
    "pretrain_general_start",
    "resized_image",
]

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


def _trainer(
    budget: Budget, steps: int, callbacks: list[L.Callback], checkpoints: bool = False
) -> L.Trainer:
    return L.Trainer(
        max_steps=steps,
        accelerator=budget.accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=checkpoints,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
        num_sanity_val_steps=0,
        precision="bf16-mixed" if budget.accelerator != "cpu" else "32-true",
    )


def _reliance_log(monitor: ImageRelianceMonitor) -> dict[str, Any] | None:
    """The final held-out image reliance and its history (nats per answer)."""
    if monitor.latest is None:
        return None
    return {
        **monitor.latest.to_dict(),
        "history": [{"step": r.step, "gap": r.gap, "own": r.own} for r in monitor.history],
    }


def _fit_vitp(
    module: ViTPPretrainModule,
    budget: Budget,
    mixture: Path,
    seed: int,
    steps: int,
    run_dir: Path | None = None,
) -> tuple[list[float], dict[str, Any] | None]:
    """Train a ViTP module with the product's data module and reliance monitor."""
    data = InstructionDataModule(
        corpus=str(mixture), processor=module.processor, batch_size=budget.batch_size, seed=seed
    )
    recorder = _LossRecorder()
    monitor = ImageRelianceMonitor(every_n_steps=budget.reliance_every, seed=seed)
    callbacks: list[L.Callback] = [recorder, monitor]
    if run_dir is not None:
        callbacks.append(ModelCheckpoint(dirpath=run_dir / "checkpoints", save_last=True))
    _trainer(budget, steps, callbacks, checkpoints=run_dir is not None).fit(module, datamodule=data)
    return recorder.losses, _reliance_log(monitor)


def _vitp_settings(budget: Budget, method: Method, mixture: Path) -> dict[str, Any]:
    return {
        "vrl_ratio": method.vrl_ratio,
        "vrl_apply_prob": method.vrl_apply_prob,
        "vrl_mode": method.vrl_mode,
        "max_seq_len": budget.max_seq_len,
        "lr": budget.lr,
        "vit_lr_scale": budget.vitp_vit_lr_scale,
        "weight_decay": WEIGHT_DECAY,
        "warmup_ratio": WARMUP_RATIO,
        "corpus_name": mixture.stem,
    }


def _pretrain_vitp(
    budget: Budget,
    method: Method,
    mixture: Path,
    seed: int,
    tokenizer: str,
    init_from: Path | None = None,
) -> tuple[ViTPPretrainModule, list[float], dict[str, Any] | None]:
    """ViTP from scratch (``init_from`` None) or from the staged recipe's aligned VLM."""
    settings = _vitp_settings(budget, method, mixture)
    if init_from is not None:
        module = ViTPPretrainModule(init_from=str(init_from), **settings)
    else:
        module = ViTPPretrainModule(
            tokenizer=tokenizer,
            vit=budget.backbone,
            vit_kwargs=dict(budget.backbone_kwargs),
            img_size=budget.img_size,
            lm_config=dict(budget.lm_config),
            **settings,
        )
    losses, reliance = _fit_vitp(module, budget, mixture, seed, budget.steps)
    return module, losses, reliance


#: Decoded, resized images (float16) shared by every MAE / supervised run of a process:
#: decoding, not the tiny model, dominates their steps otherwise.
_RESIZED: dict[tuple[Path, int], torch.Tensor] = {}


def resized_image(path: Path, size: int) -> torch.Tensor:
    """An image as ``(3, size, size)`` 0-1 floats, as ViTP's processor resizes it (cached)."""
    key = (path, size)
    if key not in _RESIZED:
        image = torch.from_numpy(load_image(path))
        image = image.expand(3, -1, -1) if image.shape[0] == 1 else image[:3]
        _RESIZED[key] = resize_image(image, size, size).half()
    return _RESIZED[key].float()


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
        return (resized_image(self.images[index], self.size) - self.mean) / self.std


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


def _image_loader(
    images: list[Path], budget: Budget, steps: int, batch: int, seed: int
) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        _ImageDataset(images, budget.img_size),
        batch_size=batch,
        sampler=RandomSampler(
            range(len(images)), replacement=True, num_samples=steps * batch, generator=generator
        ),
        drop_last=True,
    )


def _pretrain_mae(
    budget: Budget,
    images: list[Path],
    seed: int,
    steps: int,
    batch: int,
    resume: Path | None = None,
) -> tuple[MAEPretrainModule, list[float]]:
    """MAE from a random ViT, or continued from a saved MAE module (encoder + decoder)."""
    module = MAEPretrainModule(_new_vit(budget), budget.mae_decoder, mask_ratio=0.75, lr=budget.lr)
    if resume is not None:
        module.load_state_dict(load_file(str(resume)))
    recorder = _LossRecorder()
    loader = _image_loader(images, budget, steps, batch, seed)
    _trainer(budget, steps, [recorder]).fit(module, train_dataloaders=loader)
    return module, recorder.losses


def _export(
    vit: nn.Module, out: Path, budget: Budget, method: Method, corpus: str, seed: int, steps: int
) -> None:
    meta = metadata_from_hparams(
        _hparams(budget, method, corpus),
        vit.float().cpu(),
        steps,
        {"name": corpus, "method": method.name, "seed": seed},
    )
    export_backbone(vit, out, meta)


# --- the staged recipe: shared general start and aligned language model -------------------


def pretrain_general_start(budget: Budget, images: list[Path], out: Path) -> dict[str, Any]:
    """MAE on the images of both domains: the shared start of the staged recipe.

    Writes ``out/start.safetensors`` (the ViT, a ``vitp export``) and
    ``out/mae_module.safetensors`` (encoder + decoder, which continued MAE resumes).
    """
    L.seed_everything(0, workers=True, verbose=False)
    begin = time.perf_counter()
    start_budget = dataclasses.replace(budget, lr=budget.start_lr)
    module, losses = _pretrain_mae(start_budget, images, 0, budget.start_steps, budget.start_batch)
    wall = time.perf_counter() - begin
    out.mkdir(parents=True, exist_ok=True)
    start = Method("start", "start", "start")
    _export(module.backbone.vit, out / "start.safetensors", budget, start, "rs+med", 0, len(losses))
    with atomic_path(out / "mae_module.safetensors") as tmp:
        save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(tmp))
    log = {
        "stage": "start",
        "steps": len(losses),
        "batch_size": budget.start_batch,
        "wall_s": round(wall, 2),
        "losses": losses,
    }
    atomic_write_json(out / "start.log.json", log)
    return log


def align_language_model(
    budget: Budget, mixture: Path, start: Path, tokenizer: str, out: Path
) -> dict[str, Any]:
    """Alignment: projector and LM learn to read the frozen start ViT (both domains).

    Writes the run's ``checkpoints/last.ckpt`` (the domain stage's ``init_from``) and
    ``align.log.json`` with the held-out image reliance.
    """
    L.seed_everything(0, workers=True, verbose=False)
    module = ViTPPretrainModule(
        vit_weights=str(start),
        tokenizer=tokenizer,
        img_size=budget.img_size,
        lm_config=dict(budget.lm_config),
        freeze_vit=True,
        vrl_ratio=0.0,
        max_seq_len=budget.max_seq_len,
        lr=budget.align_lr,
        weight_decay=WEIGHT_DECAY,
        warmup_ratio=WARMUP_RATIO,
        corpus_name=mixture.stem,
    )
    begin = time.perf_counter()
    align_budget = dataclasses.replace(budget, batch_size=budget.align_batch)
    losses, reliance = _fit_vitp(module, align_budget, mixture, 0, budget.align_steps, out)
    log = {
        "stage": "align",
        "steps": len(losses),
        "batch_size": budget.align_batch,
        "wall_s": round(time.perf_counter() - begin, 2),
        "losses": losses,
        "image_reliance": reliance,
    }
    atomic_write_json(out / "align.log.json", log)
    return log


def _pretrain_supervised(
    budget: Budget, mixture: Path, start: Path, seed: int
) -> tuple[nn.Module, list[float]]:
    from downstream_supervised import SupervisedPretrainModule, labelled_records

    records, heads = labelled_records(mixture)
    vit = load_backbone(start)
    module = SupervisedPretrainModule(vit.train(), heads, lr=budget.lr)
    generator = torch.Generator().manual_seed(seed)
    loader = module.loader(records, budget.img_size, budget.steps, budget.batch_size, generator)
    recorder = _LossRecorder()
    _trainer(budget, budget.steps, [recorder]).fit(module, train_dataloaders=loader)
    return module.vit, recorder.losses


def _staged(
    budget: Budget, method: Method, mixture: Path, images: list[Path], seed: int, stages: Path
) -> tuple[nn.Module, list[float], dict[str, Any] | None, int]:
    """One domain backbone of the staged recipe, from the shared start / aligned VLM."""
    start = stages / "start.safetensors"
    # Every method trains the ViT at the same peak rate (ViTP's LM learns faster).
    vit_budget = dataclasses.replace(budget, lr=budget.lr * budget.vitp_vit_lr_scale)
    if method.kind == "start":
        return load_backbone(start), [], None, 0
    if method.kind == "mae":
        steps = budget.steps + (budget.align_steps if method.total_steps else 0)
        module, losses = _pretrain_mae(
            vit_budget, images, seed, steps, budget.batch_size, stages / "mae_module.safetensors"
        )
        return module.backbone.vit, losses, None, len(losses)
    if method.kind == "supervised":
        vit, losses = _pretrain_supervised(vit_budget, mixture, start, seed)
        return vit, losses, None, len(losses)
    module, losses, reliance = _pretrain_vitp(
        budget, method, mixture, seed, "", init_from=stages / "align"
    )
    return module.model.vit, losses, reliance, len(losses)


def pretrain_backbone(
    budget: Budget,
    method: Method,
    mixture: Path,
    images: list[Path],
    seed: int,
    out: Path,
    tokenizer: str = "bytes",
    stages: Path | None = None,
) -> dict[str, Any]:
    """Pretrain (or, for ``random``/``start``, only initialise) one backbone and export it.

    Args:
        budget: Study budget (shape, steps, batch, learning rate).
        method: The pretraining method.
        mixture: Pretraining mixture ``.json`` (ViTP reads its records).
        images: The images of the mixture's records (MAE samples them).
        seed: Seed of the initialisation and the data order.
        out: Export path (``.safetensors``); ``out.with_suffix('.log.json')`` gets the log.
        tokenizer: ViTP's tokenizer (``"bytes"`` or a tokenizer folder; scratch recipe).
        stages: Staged recipe: the folder of the shared start and the aligned VLM.

    Returns:
        ``{"method", "seed", "domain", "steps", "batch_size", "wall_s", "losses",
        "image_reliance"}`` (the last: the product's held-out measurement, ViTP only).
    """
    L.seed_everything(seed, workers=True, verbose=False)
    begin = time.perf_counter()
    reliance = None
    if stages is not None:
        vit, losses, reliance, steps = _staged(budget, method, mixture, images, seed, stages)
    elif method.kind == "random":
        vit, losses, steps = _new_vit(budget), [], 0
    elif method.kind == "mae":
        module, losses = _pretrain_mae(budget, images, seed, budget.steps, budget.batch_size)
        vit, steps = module.backbone.vit, len(losses)
    else:
        module, losses, reliance = _pretrain_vitp(budget, method, mixture, seed, tokenizer)
        vit, steps = module.model.vit, len(losses)
    wall = time.perf_counter() - begin
    _export(vit, out, budget, method, mixture.stem, seed, steps)
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
