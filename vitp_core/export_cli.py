"""``vitp export``: write the ViT of a run or checkpoint as a standalone backbone.

A checkpoint with NaN/Inf weights is refused before anything is written, and so is one
that does not match its SHA-256 record (``last.ckpt.sha256``, written with every
checkpoint of a run) or has none, unless ``--no-verify-checksum`` is given. Heavy
libraries are imported when the command runs, not when ``vitp --help`` lists it.
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


def export_checkpoint(
    checkpoint_path: str | Path,
    out: str | Path,
    fmt: str = "timm",
    verify_checksum: bool = True,
) -> Path:
    """Export the ViT of a pretraining checkpoint.

    Args:
        checkpoint_path: Run folder or ``.ckpt`` file.
        out: Target ``.safetensors`` file (a ``.json`` sidecar is written beside it).
        fmt: ``"timm"`` (vitp/timm keys) or ``"internvit"`` (the official InternViT layout).
        verify_checksum: Check the checkpoint against its ``.sha256`` record first (a
            missing record is an error); ``False`` skips the check.

    Returns:
        The weights path.

    Raises:
        vitp_core.export.NonFiniteWeightsError: When a ViT weight is NaN/Inf.
        vitp_core.training.checkpoint_checksum.CheckpointChecksumError: When the
            checkpoint does not match its record, or has none.
    """
    import torch
    from safetensors.torch import save_file

    from vitp_core.atomic_io import atomic_path
    from vitp_core.export import export_backbone
    from vitp_core.training.checkpoint_checksum import verify_checkpoint_checksum
    from vitp_core.training.module import metadata_from_hparams

    source = resolve_checkpoint(checkpoint_path)
    if verify_checksum:
        verify_checkpoint_checksum(source, skip_hint="--no-verify-checksum")
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    vit, hparams = _load_vit(checkpoint, source)
    meta = metadata_from_hparams(hparams, vit, int(checkpoint.get("global_step", 0)))
    meta.extra["checkpoint"] = str(source)
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
    from vitp_core.export import BackboneChecksumError
    from vitp_core.training.checkpoint_checksum import CheckpointChecksumError

    try:
        out = _export(args)
    except (FileNotFoundError, ValueError, BackboneChecksumError, CheckpointChecksumError) as err:
        print(f"vitp export: error: {err}", file=sys.stderr)  # NonFiniteWeightsError: ValueError
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
    parser.add_argument(
        "--no-verify-checksum",
        dest="verify_checksum",
        action="store_false",
        help="Export even when the checkpoint has no SHA-256 record (.ckpt.sha256) or does not "
        "match it, or the export given as PATH has no sha256 in its sidecar (a file you trust).",
    )
    _add_band_arguments(parser)
    parser.set_defaults(func=_run)


def describe_bands(
    meta: Any,
    band_names: list[str] | None,
    mean: list[float] | None,
    std: list[float] | None,
) -> None:
    """Record input band names and per-band mean/std in export metadata (checked first).

    Args:
        meta: A :class:`vitp_core.export.BackboneMetadata`, updated in place.
        band_names: One name per input band (``red green blue``, ``nir``...), or ``None``.
        mean: One finite value per band, or ``None``.
        std: One positive finite value per band, or ``None``.

    Raises:
        ValueError: When a list does not have one value per band, or a value is not usable.
    """
    import math

    for name, values in (("--band-names", band_names), ("--mean", mean), ("--std", std)):
        if values is not None and len(values) != meta.in_chans:
            raise ValueError(
                f"{name} gives {len(values)} values but the backbone reads {meta.in_chans} "
                "bands; give one per band."
            )
    for name, values in (("--mean", mean), ("--std", std)):
        if values is not None and not all(math.isfinite(v) for v in values):
            raise ValueError(f"{name} {values} has a non-finite value.")
    if std is not None and any(v <= 0 for v in std):
        raise ValueError(f"--std {std} must be positive for every band.")
    if band_names is not None:
        meta.band_names = list(band_names)
    if mean is not None:
        meta.mean = [float(v) for v in mean]
    if std is not None:
        meta.std = [float(v) for v in std]


def relabel_export(
    export: str | Path,
    out: str | Path,
    band_names: list[str] | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    verify_checksum: bool = True,
) -> Path:
    """Copy an existing ``vitp export`` to ``out`` with band names / statistics recorded.

    The weights are copied unchanged (their SHA-256 is checked first unless
    ``verify_checksum`` is false, and they must be finite); only the sidecar gains the
    bands, and the copy's sidecar records the checksum of the copied file. The original
    export is left as it is.
    """
    import shutil

    from safetensors.torch import load_file

    from vitp_core.atomic_io import atomic_path, atomic_write_json, sha256_file
    from vitp_core.export import (
        check_finite_state,
        read_metadata,
        sidecar_path,
        verify_sidecar_checksum,
    )

    export, out = Path(export), Path(out)
    if out.resolve() == export.resolve():
        raise ValueError(f"--out {out} is the export itself; write the relabelled copy elsewhere.")
    meta = read_metadata(export)
    verify_sidecar_checksum(export, meta, verify_checksum=verify_checksum)
    check_finite_state(load_file(str(export)), export)
    describe_bands(meta, band_names, mean, std)
    with atomic_path(out) as tmp:
        shutil.copyfile(export, tmp)
        meta.sha256 = sha256_file(tmp)
    atomic_write_json(sidecar_path(out), meta.to_json())
    return out


def _export(args: argparse.Namespace) -> Path:
    """Export a run/checkpoint, or relabel an existing export, recording the bands given."""
    bands = {"band_names": args.band_names, "mean": args.mean, "std": args.std}
    source = Path(args.path)
    if source.suffix == ".safetensors" and source.is_file():
        return relabel_export(source, args.out, **bands, verify_checksum=args.verify_checksum)
    out = export_checkpoint(args.path, args.out, args.format, args.verify_checksum)
    if any(value is not None for value in bands.values()):
        if args.format != "timm":
            raise ValueError("--band-names/--mean/--std are recorded in timm exports only.")
        from vitp_core.atomic_io import atomic_write_json
        from vitp_core.export import read_metadata, sidecar_path

        meta = read_metadata(out)
        describe_bands(meta, **bands)
        atomic_write_json(sidecar_path(out), meta.to_json())
    return Path(out)


def _add_band_arguments(parser: argparse.ArgumentParser) -> None:
    """``--band-names``, ``--mean``, ``--std``: the input the backbone expects."""
    group = parser.add_argument_group(
        "input bands",
        "Recorded in the sidecar so that fine-tuning adapts the patch embedding by band name "
        "(e.g. RGB kernels onto a Landsat scene's red/green/blue). PATH may also be an "
        "existing export (.safetensors): it is copied to --out with the bands recorded.",
    )
    group.add_argument(
        "--band-names",
        nargs="+",
        help="One name per band, e.g. red green blue (default: as the run or export records).",
    )
    group.add_argument(
        "--mean",
        type=float,
        nargs="+",
        help="Per-band normalisation mean (default: as the run or export records).",
    )
    group.add_argument(
        "--std",
        type=float,
        nargs="+",
        help="Per-band normalisation std (default: as the run or export records).",
    )
