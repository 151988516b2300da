"""Where a ViTP run starts: a vitp run (staged recipes), or a ViT-only start.

The paper does not pretrain from scratch: it continues from InternVL2.5-1B, a ViT that is
already pretrained and a language model that already reads it. vitp chains the same
stages from configs:

1. a general start: any ViT (``model.vit_weights``: a ``vitp export``, a timm or InternViT
   state dict, an MAE-pretrained tower), or an InternVL2.5 folder (``model.init_from``);
2. alignment: ViT frozen, projector and LM learn to read it, until the image-reliance
   gap is clearly positive;
3. domain ViTP: ``model.init_from: <the alignment run>``, everything trains, VRL on.

This module reads the two kinds of start that are vitp's own: a previous run (its
``checkpoints/last.ckpt`` or any ``.ckpt``) and a ViT weights file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from timm.models.vision_transformer import VisionTransformer

from vitp_core.checkpoints.internvit import internvit_to_timm, is_internvit_state_dict
from vitp_core.checkpoints.state_io import read_state_dict
from vitp_core.export import BackboneMetadata, read_metadata, sidecar_path
from vitp_core.training.checkpoint_checksum import checksum_path, verify_checkpoint_checksum
from vitp_core.training.run_settings import ARCHITECTURE_KEYS

__all__ = [
    "ARCHITECTURE_KEYS",
    "RunStart",
    "ViTStartError",
    "find_run_checkpoint",
    "load_vit_weights",
    "read_run_start",
    "timm_pretrained_name",
    "vit_export_metadata",
]

log = logging.getLogger(__name__)

#: Head parameters a ViT start may lack (a headless export) without it being an error.
_OPTIONAL_VIT_KEYS = ("head.weight", "head.bias", "fc_norm.weight", "fc_norm.bias")


class ViTStartError(ValueError):
    """A ViT start that does not fit the ViT it should initialise."""


@dataclass
class RunStart:
    """A previous vitp run to continue from.

    Attributes:
        checkpoint: The checkpoint file read.
        hparams: The run's module settings.
        state: ``ViTPModel`` weights (the checkpoint's ``model.*`` tensors, prefix removed).
        global_step: Optimizer steps the run had trained.
        tokenizer_dir: The run's saved ``tokenizer/`` folder, when it has one.
        lineage: The stages behind this start, oldest first, this run last.
    """

    checkpoint: Path
    hparams: dict[str, Any]
    state: dict[str, torch.Tensor]
    global_step: int
    tokenizer_dir: Path | None = None
    lineage: list[dict[str, Any]] = field(default_factory=list)


def find_run_checkpoint(path: str | os.PathLike[str]) -> Path | None:
    """The checkpoint of a vitp run: a ``.ckpt`` file, or ``<run>/checkpoints/last.ckpt``.

    Returns:
        The file, or ``None`` when ``path`` is not a vitp run or checkpoint (e.g. an
        InternVL2.5 Hugging Face folder).
    """
    path = Path(path)
    if path.is_file() and path.suffix == ".ckpt":
        return path
    for candidate in (path / "checkpoints" / "last.ckpt", path / "last.ckpt"):
        if candidate.is_file():
            return candidate
    return None


def _stage_summary(
    hparams: dict[str, Any], data: dict[str, Any], checkpoint: Path, steps: int
) -> dict[str, Any]:
    frozen = [part for part in ("vit", "projector", "lm") if hparams.get(f"freeze_{part}")]
    return {
        "checkpoint": str(checkpoint),
        "steps": steps,
        "corpus": hparams.get("corpus_name") or data.get("corpus") or "embedded demo corpus",
        "frozen": frozen,
        "vrl": {
            "ratio": hparams.get("vrl_ratio"),
            "apply_prob": hparams.get("vrl_apply_prob"),
            "mode": hparams.get("vrl_mode"),
        },
        "init_from": hparams.get("init_from"),
        "vit_weights": hparams.get("vit_weights"),
    }


def read_run_start(path: str | os.PathLike[str]) -> RunStart:
    """Read a vitp run or checkpoint to start a new stage from.

    The checkpoint is read with ``torch.load(weights_only=True)``: it never runs code.

    Args:
        path: A run folder (``checkpoints/last.ckpt`` is read) or a ``.ckpt`` file.

    Raises:
        FileNotFoundError: When ``path`` holds no vitp checkpoint.
        CheckpointChecksumError: When it does not match its ``.sha256`` record.
        ValueError: When the file is not a vitp pretraining checkpoint.
    """
    checkpoint = find_run_checkpoint(path)
    if checkpoint is None:
        raise FileNotFoundError(
            f"{path}: no vitp checkpoint (a .ckpt file or a run folder with checkpoints/last.ckpt)."
        )
    if checksum_path(checkpoint).is_file():  # vitp pretrain writes one with every checkpoint
        verify_checkpoint_checksum(checkpoint, skip_hint="deleting its .sha256 record")
    else:
        log.warning("%s has no SHA-256 record: it cannot be checked.", checkpoint)
    try:
        payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as err:  # refused pickles, truncated files
        raise ValueError(f"{checkpoint}: not a readable vitp checkpoint ({err}).") from err
    hparams = dict(payload.get("hyper_parameters") or {})
    state = {
        key.removeprefix("model."): value
        for key, value in (payload.get("state_dict") or {}).items()
        if key.startswith("model.")
    }
    if not state or "vit" not in hparams:
        raise ValueError(
            f"{checkpoint}: not a vitp pretraining checkpoint (no model.* weights or settings)."
        )
    steps = int(payload.get("global_step", 0))
    run_dir = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else None
    tokenizer_dir = run_dir / "tokenizer" if run_dir is not None else None
    if tokenizer_dir is not None and not (tokenizer_dir / "tokenizer_config.json").is_file():
        tokenizer_dir = None
    data = dict(payload.get("datamodule_hyper_parameters") or {})
    stage = _stage_summary(hparams, data, checkpoint, steps)
    lineage = [*(hparams.get("lineage") or []), stage]
    return RunStart(checkpoint, hparams, state, steps, tokenizer_dir, lineage)


#: ``vit_weights`` prefix for a timm pretrained tag, e.g. ``timm:vit_small_patch16_224.mae``.
TIMM_PREFIX = "timm:"


def timm_pretrained_name(vit_weights: str | None) -> str | None:
    """The timm model name of a ``timm:<name>[.<tag>]`` start, else ``None``."""
    if vit_weights is None or not str(vit_weights).startswith(TIMM_PREFIX):
        return None
    return str(vit_weights).removeprefix(TIMM_PREFIX)


def vit_export_metadata(path: str | os.PathLike[str]) -> BackboneMetadata | None:
    """The sidecar of a ``vitp export`` file, or ``None`` for other weight files."""
    if timm_pretrained_name(str(path)) is not None:
        return None
    return read_metadata(path) if sidecar_path(path).is_file() else None


def _timm_state(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    state = read_state_dict(path)
    if is_internvit_state_dict(state):
        state = internvit_to_timm(state)
    return state


def load_vit_weights(vit: VisionTransformer, path: str | os.PathLike[str]) -> None:
    """Load a ViT-only start into ``vit``, strictly (a head may be missing).

    Args:
        vit: The ViT to initialise (its position grid may differ: it is resampled).
        path: A ``vitp export`` (its SHA-256 is checked), a timm state dict
            (``.safetensors``/``.pth``) or an InternViT state dict (converted).

    Raises:
        ViTStartError: Naming the missing or unexpected tensors when they do not fit.
    """
    from timm.models.vision_transformer import checkpoint_filter_fn

    if vit_export_metadata(path) is not None:
        from vitp_core.export import load_backbone

        state = load_backbone(path).state_dict()
    else:
        state = _timm_state(path)
    state = checkpoint_filter_fn(state, vit)
    mismatched = [
        key
        for key, value in state.items()
        if key in vit.state_dict() and vit.state_dict()[key].shape != value.shape
    ]
    result = vit.load_state_dict(
        {k: v for k, v in state.items() if k not in mismatched}, strict=False
    )
    missing = [k for k in result.missing_keys if k not in _OPTIONAL_VIT_KEYS]
    unexpected = [k for k in result.unexpected_keys if k not in _OPTIONAL_VIT_KEYS]
    if missing or unexpected or mismatched:
        raise ViTStartError(
            f"{path}: does not fit the ViT ({type(vit).__name__}, width {vit.embed_dim}, "
            f"{len(vit.blocks)} blocks): missing {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
            f"{' ...' if len(unexpected) > 5 else ''}, wrong shape {mismatched[:5]}. "
            "Set model.vit / model.vit_kwargs to the start's architecture (a vitp export "
            "sets them itself)."
        )
