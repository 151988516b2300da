"""Official InternViT checkpoints <-> timm ``VisionTransformer`` (both directions).

The authors of ViTP publish their backbones on the Hugging Face Hub (``GreatBird/ViTP``:
``ckpts/ViTP_ViT_L_300M_rs.safetensors``, ``ckpts/ViTP_ViT_L_300M_med.safetensors``) and
InternVL2.5 ships its vision tower (``OpenGVLab/InternViT-300M-448px-V2_5``, or
``vision_model.*`` inside ``OpenGVLab/InternVL2_5-1B``) in the key layout of InternVL's
``modeling_intern_vit.py``::

    embeddings.class_embedding            (1, 1, D)
    embeddings.patch_embedding.{weight,bias}  Conv2d(3, D, 14, 14)
    embeddings.position_embedding         (1, 1 + (448/14)**2, D), CLS position first
    encoder.layers.N.norm1/norm2.{weight,bias}  LayerNorm, eps 1e-6
    encoder.layers.N.attn.qkv.{weight,bias}     fused q|k|v, (3D, D)
    encoder.layers.N.attn.proj.{weight,bias}
    encoder.layers.N.mlp.fc1/fc2.{weight,bias}  GELU MLP
    encoder.layers.N.ls1 / ls2            LayerScale vectors (raw parameters), (D,)

InternViT-300M-V2_5 is exactly a pre-norm timm ViT with LayerScale, a CLS token whose
position is part of ``pos_embed``, and no final norm: timm's ``vit_intern300m_patch14_448``
(and vitp's ``vitp_intern300m_patch14_448``). The conversion is therefore a pure renaming;
resizing the patch embedding (14 -> 16 px) and the position grid reuses timm's
``resample_patch_embed``/``resample_abs_pos_embed``.
InternViT-6B (RMSNorm, QK-norm) has no timm counterpart and is refused with a clear error.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from timm.layers import resample_abs_pos_embed, resample_patch_embed
from timm.models import adapt_input_conv
from timm.models.vision_transformer import VisionTransformer

from vitp_core.backbone import create_backbone
from vitp_core.checkpoints.state_io import read_state_dict

__all__ = [
    "INTERNVIT_PREFIX",
    "INTERNVIT_TIMM_MODEL",
    "INTERNVL_NON_VISION_PREFIXES",
    "InternViTArch",
    "InternViTKeyError",
    "build_internvit_backbone",
    "infer_internvit_arch",
    "internvit_to_timm",
    "is_internvit_state_dict",
    "load_internvit_backbone",
    "read_internvit_config",
    "timm_to_internvit",
]

_logger = logging.getLogger(__name__)

#: Prefix of the vision tower inside a full InternVL checkpoint.
INTERNVIT_PREFIX = "vision_model."
#: Prefixes of the other parts of a full InternVL checkpoint (projector, language model).
INTERNVL_NON_VISION_PREFIXES: tuple[str, ...] = ("mlp1.", "language_model.")
#: The timm/vitp model name with the InternViT-300M architecture.
INTERNVIT_TIMM_MODEL = "vitp_intern300m_patch14_448"

#: Embedding keys, InternViT name -> timm name.
_EMBEDDINGS: dict[str, str] = {
    "embeddings.class_embedding": "cls_token",
    "embeddings.position_embedding": "pos_embed",
    "embeddings.patch_embedding.weight": "patch_embed.proj.weight",
    "embeddings.patch_embedding.bias": "patch_embed.proj.bias",
}
#: Per-layer keys, InternViT ``encoder.layers.N.<name>`` -> timm ``blocks.N.<name>``.
_LAYER: dict[str, str] = {
    "norm1.weight": "norm1.weight",
    "norm1.bias": "norm1.bias",
    "attn.qkv.weight": "attn.qkv.weight",
    "attn.qkv.bias": "attn.qkv.bias",
    "attn.proj.weight": "attn.proj.weight",
    "attn.proj.bias": "attn.proj.bias",
    "ls1": "ls1.gamma",
    "norm2.weight": "norm2.weight",
    "norm2.bias": "norm2.bias",
    "mlp.fc1.weight": "mlp.fc1.weight",
    "mlp.fc1.bias": "mlp.fc1.bias",
    "mlp.fc2.weight": "mlp.fc2.weight",
    "mlp.fc2.bias": "mlp.fc2.bias",
    "ls2": "ls2.gamma",
}
_EMBEDDINGS_INV = {v: k for k, v in _EMBEDDINGS.items()}
_LAYER_INV = {v: k for k, v in _LAYER.items()}
_INTERN_LAYER_RE = re.compile(r"^encoder\.layers\.(\d+)\.(.+)$")
_TIMM_BLOCK_RE = re.compile(r"^blocks\.(\d+)\.(.+)$")
#: Default attention head width of InternViT-300M (1024 / 16).
_HEAD_DIM = 64


class InternViTKeyError(KeyError):
    """A checkpoint key that has no counterpart in the other layout."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


def _strip_prefix(
    state: Mapping[str, torch.Tensor], ignore_prefixes: Sequence[str]
) -> dict[str, torch.Tensor]:
    """Drop ``ignore_prefixes`` keys and strip ``vision_model.`` from the others."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith(tuple(ignore_prefixes)):
            continue
        name = key.removeprefix(INTERNVIT_PREFIX)
        if name in out:
            raise InternViTKeyError(f"InternViT key {name!r} appears with and without a prefix.")
        out[name] = value
    return out


def is_internvit_state_dict(state: Mapping[str, torch.Tensor]) -> bool:
    """Tell whether a state dict is in the official InternViT layout.

    Args:
        state: Any state dict; keys may carry the ``vision_model.`` prefix of a full
            InternVL checkpoint.

    Returns:
        ``True`` when it has InternViT's patch and position embeddings.
    """
    for prefix in ("", INTERNVIT_PREFIX):
        if (
            f"{prefix}embeddings.patch_embedding.weight" in state
            and f"{prefix}embeddings.position_embedding" in state
        ):
            return True
    return False


def internvit_to_timm(
    state: Mapping[str, torch.Tensor], *, ignore_prefixes: Sequence[str] = ()
) -> dict[str, torch.Tensor]:
    """Rename an official InternViT state dict to timm ``VisionTransformer`` keys.

    Tensors are passed through unchanged (same objects, same dtype): InternViT's
    ``class_embedding`` ``(1, 1, D)``, ``position_embedding`` ``(1, 1 + N, D)`` and
    LayerScale vectors ``(D,)`` already have timm's shapes.

    Args:
        state: InternViT weights, optionally prefixed with ``vision_model.``.
        ignore_prefixes: Keys to drop before mapping, e.g.
            :data:`INTERNVL_NON_VISION_PREFIXES` to take the vision tower out of a full
            InternVL checkpoint.

    Returns:
        The state dict under ``cls_token``, ``pos_embed``, ``patch_embed.proj.*`` and
        ``blocks.N.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,mlp.fc1,mlp.fc2,ls2.gamma}.*``.

    Raises:
        InternViTKeyError: Naming the first key that has no timm counterpart (e.g. the
            ``attn.q_norm`` of InternViT-6B, or ``mlp1.*`` of a full InternVL checkpoint
            without ``ignore_prefixes``).
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in _strip_prefix(state, ignore_prefixes).items():
        if key in _EMBEDDINGS:
            out[_EMBEDDINGS[key]] = value
            continue
        match = _INTERN_LAYER_RE.match(key)
        if match is None or match.group(2) not in _LAYER:
            raise InternViTKeyError(
                f"InternViT key {key!r} has no counterpart in timm's InternViT-300M "
                "(pre-norm LayerNorm ViT with LayerScale, no QK-norm, no final norm). "
                "InternViT-6B checkpoints and full VLM checkpoints are not backbones: pass "
                f"ignore_prefixes={INTERNVL_NON_VISION_PREFIXES} for the latter."
            )
        out[f"blocks.{match.group(1)}.{_LAYER[match.group(2)]}"] = value
    return out


def timm_to_internvit(
    state: Mapping[str, torch.Tensor], *, prefix: str = ""
) -> dict[str, torch.Tensor]:
    """Rename a timm ``VisionTransformer`` state dict to the official InternViT layout.

    The exact inverse of :func:`internvit_to_timm`: what ``vitp export --format internvit``
    writes, loadable by InternVL's ``InternVisionModel`` and the authors' detection and
    segmentation code.

    Args:
        state: ``vit.state_dict()`` of an InternViT-shaped timm ViT (``class_token=True``,
            LayerScale, ``final_norm=False``, no head, no register tokens).
        prefix: Prepended to every key, e.g. ``"vision_model."``.

    Returns:
        The state dict under InternViT names.

    Raises:
        InternViTKeyError: Naming the first key InternViT cannot hold (``norm.weight`` of a
            ViT with a final norm, ``reg_token``, ``head.*``...).
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key in _EMBEDDINGS_INV:
            out[prefix + _EMBEDDINGS_INV[key]] = value
            continue
        match = _TIMM_BLOCK_RE.match(key)
        if match is None or match.group(2) not in _LAYER_INV:
            raise InternViTKeyError(
                f"timm key {key!r} has no counterpart in the InternViT layout: only "
                "InternViT-shaped ViTs (CLS token, LayerScale, final_norm=False, no head) can be "
                f"exported in it. Build the backbone from {INTERNVIT_TIMM_MODEL!r}, or export "
                "in vitp's own format instead."
            )
        out[f"{prefix}encoder.layers.{match.group(1)}.{_LAYER_INV[match.group(2)]}"] = value
    return out


@dataclass(frozen=True)
class InternViTArch:
    """Architecture of an InternViT checkpoint, read off its tensors.

    Attributes:
        embed_dim: Token width ``D``.
        depth: Number of transformer layers.
        num_heads: Attention heads.
        mlp_ratio: MLP hidden width / ``D``.
        patch_size: Patch side in pixels.
        in_chans: Input channels of the patch embedding.
        grid_size: Side of the stored (square) position grid, in patches.
        qkv_bias: Whether the fused QKV projection has a bias.
    """

    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float
    patch_size: int
    in_chans: int
    grid_size: int
    qkv_bias: bool

    @property
    def img_size(self) -> int:
        """Native input side in pixels (``grid_size * patch_size``)."""
        return self.grid_size * self.patch_size

    def timm_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``timm.create_model(INTERNVIT_TIMM_MODEL, ...)``."""
        return {
            "embed_dim": self.embed_dim,
            "depth": self.depth,
            "num_heads": self.num_heads,
            "mlp_ratio": self.mlp_ratio,
            "patch_size": self.patch_size,
            "in_chans": self.in_chans,
            "img_size": self.img_size,
            "qkv_bias": self.qkv_bias,
        }


def _layer_count(timm_state: Mapping[str, torch.Tensor]) -> int:
    indices = {int(m.group(1)) for k in timm_state if (m := _TIMM_BLOCK_RE.match(k))}
    if not indices or indices != set(range(max(indices) + 1)):
        raise ValueError(
            f"InternViT checkpoint has layers {sorted(indices)}; expected 0..N-1 without gaps."
        )
    return max(indices) + 1


def infer_internvit_arch(
    state: Mapping[str, torch.Tensor], *, num_heads: int | None = None
) -> InternViTArch:
    """Read the architecture off a state dict (InternViT or timm layout).

    Args:
        state: InternViT weights (any prefix handled by :func:`internvit_to_timm`) or
            the converted timm weights.
        num_heads: Attention heads; default ``embed_dim // 64`` (16 for InternViT-300M).
            Tensors do not record it, so small or non-standard checkpoints must pass it
            (or come with a ``config.json``, see :func:`load_internvit_backbone`).

    Returns:
        The architecture.

    Raises:
        ValueError: When the shapes are inconsistent or ``num_heads`` does not divide ``D``.
    """
    timm_state = state if "cls_token" in state else internvit_to_timm(state)
    depth = _layer_count(timm_state)
    for required in (
        "cls_token",
        "pos_embed",
        "patch_embed.proj.weight",
        "blocks.0.mlp.fc1.weight",
    ):
        if required not in timm_state:
            raise ValueError(
                f"InternViT checkpoint lacks {_EMBEDDINGS_INV.get(required, required)}."
            )
    if "blocks.0.norm1.bias" not in timm_state:
        raise ValueError(
            "InternViT checkpoint has norms without bias (RMSNorm, InternViT-6B style); only "
            "LayerNorm InternViTs (300M) map onto timm's ViT."
        )
    patch = timm_state["patch_embed.proj.weight"]
    embed_dim, in_chans, patch_h, patch_w = patch.shape
    if patch_h != patch_w:
        raise ValueError(f"InternViT patch embedding is not square: {tuple(patch.shape)}.")
    num_positions = timm_state["pos_embed"].shape[1] - 1
    grid = math.isqrt(num_positions)
    if grid * grid != num_positions:
        raise ValueError(f"InternViT position embedding has {num_positions} patches, not a square.")
    heads = num_heads if num_heads is not None else max(1, embed_dim // _HEAD_DIM)
    if embed_dim % heads:
        raise ValueError(
            f"num_heads={heads} does not divide the width {embed_dim}; pass num_heads."
        )
    return InternViTArch(
        embed_dim=embed_dim,
        depth=depth,
        num_heads=heads,
        mlp_ratio=timm_state["blocks.0.mlp.fc1.weight"].shape[0] / embed_dim,
        patch_size=patch_w,
        in_chans=in_chans,
        grid_size=grid,
        qkv_bias="blocks.0.attn.qkv.bias" in timm_state,
    )


def read_internvit_config(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the vision config of a Hugging Face InternViT or InternVL folder.

    Args:
        folder: Holds ``config.json``: an ``InternVisionModel`` config (InternViT-300M)
            or an ``InternVLChatModel`` config with a ``vision_config`` entry.

    Returns:
        The vision config fields (``hidden_size``, ``num_attention_heads``, ``norm_type``...).

    Raises:
        ValueError: For configs the timm ViT cannot express (QK-norm, RMSNorm, not GELU).
    """
    path = Path(folder) / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config = config.get("vision_config", config)
    problems = []
    if config.get("qk_normalization", False):
        problems.append("qk_normalization=true")
    if config.get("norm_type", "layer_norm") != "layer_norm":
        problems.append(f"norm_type={config['norm_type']!r}")
    if config.get("hidden_act", "gelu") != "gelu":
        problems.append(f"hidden_act={config['hidden_act']!r}")
    if problems:
        raise ValueError(
            f"{path}: {', '.join(problems)}: only InternViT-300M-style vision towers "
            "(LayerNorm, GELU, no QK-norm) are supported."
        )
    return config


def _resize_state(
    timm_state: dict[str, torch.Tensor], model: VisionTransformer, grid_size: int
) -> dict[str, torch.Tensor]:
    """Adapt input channels, patch size and position grid of ``timm_state`` to ``model``.

    Uses timm's tools: ``adapt_input_conv`` for other band counts, ``resample_patch_embed``
    (FlexiViT pseudo-inverse) for the patch kernel and ``resample_abs_pos_embed`` for the
    grid (bicubic, CLS position kept, no antialias, as InternVL's ``resize_pos_embeddings``).
    """
    out = dict(timm_state)
    proj = out["patch_embed.proj.weight"]
    target = model.patch_embed.proj.weight.shape
    if proj.shape[1] != target[1]:
        proj = adapt_input_conv(target[1], proj)
    if tuple(proj.shape[-2:]) != tuple(target[-2:]):
        proj = resample_patch_embed(proj, list(target[-2:]), antialias=False)
    out["patch_embed.proj.weight"] = proj
    new_grid = tuple(model.patch_embed.grid_size)
    if new_grid != (grid_size, grid_size):
        out["pos_embed"] = resample_abs_pos_embed(
            out["pos_embed"],
            new_size=list(new_grid),
            old_size=[grid_size, grid_size],
            num_prefix_tokens=model.num_prefix_tokens,
            antialias=False,
        )
    return out


def build_internvit_backbone(
    state: Mapping[str, torch.Tensor],
    *,
    img_size: int | tuple[int, int] | None = None,
    patch_size: int | None = None,
    in_chans: int = 3,
    num_heads: int | None = None,
    **timm_kwargs: Any,
) -> VisionTransformer:
    """Build a vitp timm ViT from InternViT weights already in memory.

    Args:
        state: InternViT-layout weights (optional ``vision_model.`` prefix; ``mlp1.*`` and
            ``language_model.*`` of a full InternVL checkpoint are skipped).
        img_size: Reference input side in pixels; the position grid is resampled to
            ``img_size / patch_size``. Default: keep the stored grid (448 px at patch 14,
            512 px at patch 16).
        patch_size: Resample the patch embedding to this side (the paper's dense
            downstream configs use 16); default: the stored size (14).
        in_chans: Input bands; other than the stored 3, timm's ``adapt_input_conv``
            repeats and rescales the RGB kernel.
        num_heads: Attention heads; default ``embed_dim // 64``.
        **timm_kwargs: Further ``VisionTransformer`` arguments (``drop_path_rate``,
            ``dynamic_img_size``...).

    Returns:
        A headless ``VisionTransformer`` of the InternViT-300M layout (depth, width and
        MLP width read from the tensors), in eval mode; ``vitp_model_name`` and
        ``vitp_model_kwargs`` attributes record how to rebuild it with ``create_backbone``.
    """
    timm_state = internvit_to_timm(state, ignore_prefixes=INTERNVL_NON_VISION_PREFIXES)
    arch = infer_internvit_arch(timm_state, num_heads=num_heads)
    model_kwargs = arch.timm_kwargs()
    model_kwargs["in_chans"] = in_chans
    if patch_size is not None:
        model_kwargs["patch_size"] = patch_size
    model_kwargs["img_size"] = (
        img_size if img_size is not None else arch.grid_size * model_kwargs["patch_size"]
    )
    model_kwargs.update(timm_kwargs)
    model = create_backbone(INTERNVIT_TIMM_MODEL, **model_kwargs)
    model.load_state_dict(_resize_state(timm_state, model, arch.grid_size), strict=True)
    # Recorded for export sidecars (vitp_core.training.module.metadata_from_hparams), so the
    # exported backbone is rebuilt with this shape rather than the 300M defaults.
    model.vitp_model_name = INTERNVIT_TIMM_MODEL
    model.vitp_model_kwargs = {
        k: v for k, v in model_kwargs.items() if k not in ("img_size", "in_chans", "drop_path_rate")
    }
    _logger.info("Built InternViT backbone %s", arch)
    return model.eval()


def load_internvit_backbone(
    path: str | os.PathLike[str],
    *,
    img_size: int | tuple[int, int] | None = None,
    patch_size: int | None = None,
    in_chans: int = 3,
    num_heads: int | None = None,
    **timm_kwargs: Any,
) -> VisionTransformer:
    """Load an official InternViT / ViTP backbone checkpoint into a vitp timm ViT.

    Args:
        path: ``ViTP_ViT_L_300M_rs.safetensors``-style file (keys ``embeddings.*``,
            ``encoder.layers.*``, optional ``vision_model.`` prefix), a ``.pth``/``.bin``
            (read with ``weights_only=True``), or a Hugging Face InternViT/InternVL folder
            (its ``config.json`` supplies ``num_attention_heads``; the projector and
            language model of a full InternVL checkpoint are not read).
        img_size: See :func:`build_internvit_backbone`.
        patch_size: See :func:`build_internvit_backbone` (14 -> 16 for the paper's
            downstream configs).
        in_chans: See :func:`build_internvit_backbone`.
        num_heads: Attention heads; default from ``config.json`` or ``embed_dim // 64``.
        **timm_kwargs: Further ``VisionTransformer`` arguments.

    Returns:
        A headless ``VisionTransformer`` with the checkpoint's weights, in eval mode.
    """
    path = Path(path)
    if path.is_dir() and (path / "config.json").is_file() and num_heads is None:
        num_heads = read_internvit_config(path).get("num_attention_heads")
    state = read_state_dict(path, exclude_prefixes=INTERNVL_NON_VISION_PREFIXES)
    try:
        return build_internvit_backbone(
            state,
            img_size=img_size,
            patch_size=patch_size,
            in_chans=in_chans,
            num_heads=num_heads,
            **timm_kwargs,
        )
    except (KeyError, ValueError) as err:
        raise type(err)(f"{path}: {err}") from err
