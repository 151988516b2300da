"""``vitp export``: write the ViT of a run or checkpoint as a standalone backbone.

A checkpoint with NaN/Inf weights is refused before anything is written. Heavy libraries
are imported when the command runs, not when ``vitp --help`` lists it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["export_checkpoint", "register", "resolve_checkpoint"]

VIT_PREFIX = "model.vit."


def resolve_checkpoint(path: str | Path) -> Path:
    """Return the checkpoint of a run folder (``checkpoints/last.ckpt``) or the file itself."""
    path = Path(path)
    if path.is_dir():
        candidates = [path / "checkpoints" / "last.ckpt", path / "last.ckpt"]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"{path}: no checkpoints/last.ckpt in this run folder.")
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: give a run folder or a .ckpt file.")
    return path


def _load_vit(
    checkpoint: dict[str, Any], source: str | Path = "checkpoint"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    from vitp_core.backbone import create_backbone
    from vitp_core.export import check_finite_state

    hparams = dict(checkpoint.get("hyper_parameters", {}))
    state = {
        k[len(VIT_PREFIX) :]: v
        for k, v in checkpoint["state_dict"].items()
        if k.startswith(VIT_PREFIX)
    }
    if not state:
        raise ValueError(
            "checkpoint has no model.vit.* weights: is it a `vitp pretrain` checkpoint?"
        )
    check_finite_state(state, source)
    # Runs record the InternVL folder their architecture comes from (older ones: init_from).
    origin = hparams.get("architecture_origin", hparams.get("init_from"))
    if origin:
        from vitp_core.checkpoints.internvl import backbone_from_state

        vit = backbone_from_state(state, img_size=hparams.get("img_size"), init_from=origin)
    else:
        vit = create_backbone(
            hparams.get("vit", "vitp_tiny_patch16_224"),
            in_chans=int(state["patch_embed.proj.weight"].shape[1]),
            img_size=hparams.get("img_size", 128),
            **(hparams.get("vit_kwargs") or {}),
        )
    vit.load_state_dict(state, strict=True)
    return vit, hparams


def export_checkpoint(checkpoint_path: str | Path, out: str | Path, fmt: str = "timm") -> Path:
    """Export the ViT of a pretraining checkpoint.

    Args:
        checkpoint_path: Run folder or ``.ckpt`` file.
        out: Target ``.safetensors`` file (a ``.json`` sidecar is written beside it).
        fmt: ``"timm"`` (vitp/timm keys) or ``"internvit"`` (the official InternViT layout).

    Returns:
        The weights path.

    Raises:
        vitp_core.export.NonFiniteWeightsError: When a ViT weight is NaN/Inf.
    """
    import torch
    from safetensors.torch import save_file

    from vitp_core.atomic_io import atomic_path
    from vitp_core.export import export_backbone
    from vitp_core.training.module import metadata_from_hparams

    source = resolve_checkpoint(checkpoint_path)
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    vit, hparams = _load_vit(checkpoint, source)
    meta = metadata_from_hparams(hparams, vit, int(checkpoint.get("global_step", 0)))
    meta.extra["checkpoint"] = str(resolve_checkpoint(checkpoint_path))
    if fmt == "timm":
        return export_backbone(vit, out, meta)
    if fmt == "internvit":
        from vitp_core.checkpoints.internvit import timm_to_internvit

        state = timm_to_internvit(vit.state_dict())
        with atomic_path(out) as tmp:
            save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
        return Path(out)
    raise ValueError(f"unknown export format {fmt!r}: use timm or internvit.")


def _run(args: argparse.Namespace) -> int:
    try:
        out = export_checkpoint(args.path, args.out, args.format)
    except (FileNotFoundError, ValueError) as err:  # NonFiniteWeightsError is a ValueError
        print(f"vitp export: error: {err}", file=sys.stderr)
        return 2
    print(f"exported backbone: {out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` sub-command."""
    parser = subparsers.add_parser(
        "export",
        help="Export the pretrained ViT of a run.",
        description="Write the ViT of a pretraining run or checkpoint as a standalone backbone "
        "(safetensors + JSON sidecar with its SHA-256).",
    )
    parser.add_argument("path", help="Run folder (uses checkpoints/last.ckpt) or a .ckpt file.")
    parser.add_argument("--out", required=True, help="Target .safetensors file.")
    parser.add_argument(
        "--format",
        choices=("timm", "internvit"),
        default="timm",
        help="Key layout of the weights: timm (vitp/timm names) or internvit (official).",
    )
    parser.set_defaults(func=_run)
