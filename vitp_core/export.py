"""Export of the pretrained ViT alone: timm state dict in safetensors plus a JSON sidecar.

The sidecar (``backbone.json`` next to ``backbone.safetensors``) says how to rebuild the
model (timm name and its keyword arguments), how to feed it (bands, normalisation), where
it came from (corpus, VRL settings, steps) and the SHA-256 of the weights file, which
:func:`load_backbone` checks: a sidecar without a checksum is refused unless the caller
opts out with ``verify_checksum=False``. Non-finite (NaN/Inf) weights are never written
and never loaded.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from timm.models.vision_transformer import VisionTransformer

from vitp_core.atomic_io import atomic_path, atomic_write_json, sha256_file
from vitp_core.backbone import STOCK_TIMM_EQUIVALENT, create_backbone

__all__ = [
    "BackboneChecksumError",
    "BackboneMetadata",
    "NonFiniteWeightsError",
    "check_finite_state",
    "export_backbone",
    "load_backbone",
    "read_metadata",
    "sidecar_path",
    "verify_sidecar_checksum",
]

FORMAT_NAME = "vitp-backbone"
FORMAT_VERSION = 1


class BackboneChecksumError(RuntimeError):
    """The weights file does not match the SHA-256 recorded in its sidecar (or it has none)."""


class NonFiniteWeightsError(ValueError):
    """A state dict holds NaN or infinite values; it is neither written nor loaded."""


def check_finite_state(state: Mapping[str, torch.Tensor], what: str | os.PathLike[str]) -> None:
    """Refuse a state dict with NaN/Inf values in any floating-point tensor.

    Args:
        state: Tensor name -> tensor.
        what: The file or object the state belongs to, named in the error.

    Raises:
        NonFiniteWeightsError: Naming the first offending tensors and how many values
            of each are not finite.
    """
    bad = []
    for name, tensor in state.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            count = int((~torch.isfinite(tensor)).sum())
            if count:
                bad.append(f"{name} ({count} NaN/Inf of {tensor.numel()})")
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise NonFiniteWeightsError(
            f"{what}: {len(bad)} tensor(s) hold non-finite values: {shown}. The weights are "
            "unusable (a diverged run?); use an earlier checkpoint."
        )


def verify_sidecar_checksum(
    path: str | os.PathLike[str], meta: BackboneMetadata, *, verify_checksum: bool = True
) -> None:
    """Check a weights file against the SHA-256 recorded in its sidecar.

    Args:
        path: The weights file.
        meta: Its sidecar.
        verify_checksum: ``False`` skips the check (for files whose sidecar was written
            by hand); a sidecar without a checksum is an error otherwise.

    Raises:
        BackboneChecksumError: When the sidecar records no checksum, or another one.
    """
    if not verify_checksum:
        return
    side = sidecar_path(path)
    if not str(meta.sha256 or "").strip():
        raise BackboneChecksumError(
            f"{path}: its sidecar {side} records no sha256, so the weights cannot be checked. "
            "Re-export them with `vitp export`, or, if you trust the file, load it with "
            "verify_checksum=False."
        )
    actual = sha256_file(path)
    if actual != meta.sha256:
        raise BackboneChecksumError(
            f"{path}: SHA-256 {actual} does not match {meta.sha256} recorded in "
            f"{side}; the file is corrupt or was replaced. Re-export it."
        )


@dataclass
class BackboneMetadata:
    """Everything needed to rebuild, feed and trace an exported ViTP backbone.

    Attributes:
        model: timm model name, e.g. ``"vitp_small_patch16_224"``.
        model_kwargs: Extra keyword arguments for ``timm.create_model`` (``depth``...).
        img_size: Reference input size in pixels ``(H, W)``.
        patch_size: Patch size in pixels.
        in_chans: Number of input bands.
        embed_dim: Token width.
        band_names: Band names in input order, when known.
        mean: Per-band normalisation mean (same units as the input pixels).
        std: Per-band normalisation standard deviation.
        corpus: Corpus name and size it was pretrained on.
        vrl: Visual Robustness Learning settings used in pretraining.
        steps: Optimizer steps of pretraining.
        sha256: SHA-256 of the safetensors file.
        vitp_version: Version of vitp that wrote the export.
        extra: Free-form provenance.
        timm_model: Stock timm name with the same architecture (loads without vitp).
    """

    model: str
    img_size: tuple[int, int]
    patch_size: int
    in_chans: int
    embed_dim: int
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    band_names: list[str] | None = None
    mean: list[float] | None = None
    std: list[float] | None = None
    corpus: dict[str, Any] = field(default_factory=dict)
    vrl: dict[str, Any] = field(default_factory=dict)
    steps: int = 0
    sha256: str = ""
    vitp_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    timm_model: str | None = None

    def __post_init__(self) -> None:
        if self.timm_model is None:
            self.timm_model = STOCK_TIMM_EQUIVALENT.get(self.model, self.model)

    def to_json(self) -> dict[str, Any]:
        """Return the sidecar payload (JSON-serialisable)."""
        payload = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION}
        payload.update(dataclasses.asdict(self))
        payload["img_size"] = list(self.img_size)
        payload["timm_kwargs"] = self.timm_kwargs()
        return payload

    def timm_kwargs(self) -> dict[str, Any]:
        """Complete ``timm.create_model`` keyword arguments for :attr:`timm_model`."""
        return {
            "num_classes": 0,
            "dynamic_img_size": True,
            **self.model_kwargs,
            "in_chans": self.in_chans,
            "img_size": list(self.img_size),
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> BackboneMetadata:
        """Build from a sidecar payload, ignoring unknown keys of newer versions."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in payload.items() if k in names}
        size = kwargs.get("img_size", (224, 224))
        kwargs["img_size"] = (size, size) if isinstance(size, int) else tuple(size)
        return cls(**kwargs)

    def create_model(self, **overrides: Any) -> VisionTransformer:
        """Build the (untrained) timm model this metadata describes."""
        kwargs: dict[str, Any] = {
            **self.model_kwargs,
            "in_chans": self.in_chans,
            "img_size": self.img_size,
        }
        kwargs.update(overrides)
        return create_backbone(self.model, **kwargs)


def sidecar_path(weights_path: str | os.PathLike[str]) -> Path:
    """Return the JSON sidecar path of a weights file (``x.safetensors`` -> ``x.json``)."""
    return Path(weights_path).with_suffix(".json")


def _vitp_version() -> str:
    from vitp_core import __version__

    return __version__


def export_backbone(
    vit: VisionTransformer,
    out: str | os.PathLike[str],
    metadata: BackboneMetadata,
) -> Path:
    """Write a ViT's weights (safetensors) and sidecar JSON, both atomically.

    Args:
        vit: The backbone; its head, if any, is exported too under timm's names.
        out: Target ``.safetensors`` path.
        metadata: Sidecar content; ``sha256`` and ``vitp_version`` are filled in here.

    Returns:
        The path of the weights file.

    Raises:
        NonFiniteWeightsError: When a weight is NaN/Inf (nothing is written).
    """
    out = Path(out)
    if out.suffix != ".safetensors":
        raise ValueError(f"Export target must end with .safetensors, got {out}.")
    state = {k: v.detach().cpu().contiguous() for k, v in vit.state_dict().items()}
    check_finite_state(state, f"export to {out}")
    with atomic_path(out) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT_NAME, "model": metadata.model})
        metadata.sha256 = sha256_file(tmp)
    metadata.vitp_version = _vitp_version()
    atomic_write_json(sidecar_path(out), metadata.to_json())
    return out


def read_metadata(weights_path: str | os.PathLike[str]) -> BackboneMetadata:
    """Read the sidecar of an exported backbone.

    Raises:
        FileNotFoundError: With a hint when the sidecar is missing.
    """
    side = sidecar_path(weights_path)
    if not side.exists():
        raise FileNotFoundError(
            f"{side} not found: a vitp backbone export is a .safetensors file with a .json "
            "sidecar of the same name. Re-run `vitp export`, or pass model=... to load_backbone."
        )
    return BackboneMetadata.from_json(json.loads(side.read_text(encoding="utf-8")))


def load_backbone(
    path: str | os.PathLike[str],
    *,
    verify_checksum: bool = True,
    strict: bool = True,
    **overrides: Any,
) -> VisionTransformer:
    """Load an exported backbone back as a timm ``VisionTransformer``.

    Args:
        path: The ``.safetensors`` file written by :func:`export_backbone` / ``vitp export``.
        verify_checksum: Check the file's SHA-256 against the sidecar; a sidecar without
            one is an error unless this is ``False``.
        strict: Require every key to match.
        **overrides: ``timm.create_model`` overrides, e.g. ``img_size=512`` (the position
            grid is resampled) or ``drop_path_rate=0.1``.

    Returns:
        The model with the exported weights, in eval mode.

    Raises:
        BackboneChecksumError: When the hash differs from the sidecar's, or the sidecar
            has none (and ``verify_checksum`` is true).
        NonFiniteWeightsError: When a weight is NaN/Inf.
    """
    path = Path(path)
    meta = read_metadata(path)
    verify_sidecar_checksum(path, meta, verify_checksum=verify_checksum)
    state = load_file(str(path))
    check_finite_state(state, path)
    model = meta.create_model(**overrides)
    state = _resample_for(model, state)
    model.load_state_dict(state, strict=strict)
    return model.eval()


def _resample_for(
    model: VisionTransformer, state: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Resample position embeddings in ``state`` to ``model``'s grid when sizes differ."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    return checkpoint_filter_fn(state, model)
