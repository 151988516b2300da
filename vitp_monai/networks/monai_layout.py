"""Converters between timm/ViTP and MONAI ``ViT``/``UNETR`` state-dict layouts.

With these, ViTP weights load into MONAI's stock ``monai.networks.nets.ViT`` and
``UNETR`` (when the architecture fits), and MONAI ViT weights load into ViTP networks.

Key mapping (timm -> MONAI ``ViT``; ``UNETR`` adds the prefix ``vit.``)::

    patch_embed.proj.{weight,bias}    -> patch_embedding.patch_embeddings.{weight,bias}
    pos_embed[:, prefix:]             -> patch_embedding.position_embeddings
    cls_token (+ pos_embed[:, :1])    -> cls_token            (classification=True only)
    blocks.i.norm1/norm2              -> blocks.i.norm1/norm2
    blocks.i.attn.qkv                 -> blocks.i.attn.qkv    (same q|k|v, head-major order)
    blocks.i.attn.proj (x ls1.gamma)  -> blocks.i.attn.out_proj
    blocks.i.mlp.fc1 / fc2 (x ls2)    -> blocks.i.mlp.linear1 / linear2
    norm                              -> norm
    head                              -> classification_head

What maps exactly, what does not:

* **qkv bias**: timm ViTs have it (``qkv_bias=True``); build the MONAI model with
  ``qkv_bias=True`` or the bias keys are unexpected.
* **Class token**: MONAI adds its ``cls_token`` *after* the position embedding, with
  no position of its own, so the class-token position is folded into the token
  (exact). MONAI's ``ViT(classification=False)`` and ``UNETR`` have no class token: it is
  dropped, and their outputs differ from timm's (one token fewer attends).
* **LayerScale** (``ls1``/``ls2``, e.g. InternViT's 0.1): MONAI blocks have no LayerScale
  parameter. It is folded exactly into the preceding projection
  (``W' = diag(gamma) W``, ``b' = gamma * b``); converting back yields
  ``gamma = 1`` with the folded weights (same outputs, different parameters).
* **LayerNorm eps**: not part of a state dict. timm ViTs use ``1e-6``, MONAI
  ``nn.LayerNorm``'s default ``1e-5``; call :func:`set_layer_norm_eps` on the MONAI model
  for identical outputs (the difference is otherwise small).
* **No final norm** (InternViT, ``final_norm=False``): MONAI's ViT always ends in a
  LayerNorm, which stays at its initial (non-identity) value; reported as a warning.
* **Register tokens, pre-norm, fc-norm, q/k norms**: no MONAI counterpart;
  conversion raises ``ValueError`` naming the keys.
* MONAI's unused ``norm_cross_attn`` LayerNorm (present even without cross-attention)
  is filled with its initial values.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence

import torch
from torch import nn

from vitp_monai.networks.inflation import adapt_patch_kernel, resample_pos_embed

__all__ = [
    "MONAI_PATCH_KEY",
    "is_monai_vit_state_dict",
    "monai_unetr_to_timm",
    "monai_vit_to_timm",
    "set_layer_norm_eps",
    "timm_to_monai_unetr",
    "timm_to_monai_vit",
]

logger = logging.getLogger(__name__)

#: Patch-embedding kernel key of MONAI's ``PatchEmbeddingBlock`` with ``proj_type="conv"``.
MONAI_PATCH_KEY = "patch_embedding.patch_embeddings.weight"
#: MONAI UNETR's fixed depth and patch size.
UNETR_DEPTH = 12
UNETR_PATCH = 16

_BLOCK_RENAMES = {
    "norm1.weight": "norm1.weight",
    "norm1.bias": "norm1.bias",
    "attn.qkv.weight": "attn.qkv.weight",
    "attn.qkv.bias": "attn.qkv.bias",
    "attn.proj.weight": "attn.out_proj.weight",
    "attn.proj.bias": "attn.out_proj.bias",
    "norm2.weight": "norm2.weight",
    "norm2.bias": "norm2.bias",
    "mlp.fc1.weight": "mlp.linear1.weight",
    "mlp.fc1.bias": "mlp.linear1.bias",
    "mlp.fc2.weight": "mlp.linear2.weight",
    "mlp.fc2.bias": "mlp.linear2.bias",
}
_BLOCK_RE = re.compile(r"^blocks\.(\d+)\.(.+)$")
#: LayerScale and the projection it follows, per block.
_LAYER_SCALES = {"ls1.gamma": "attn.proj", "ls2.gamma": "mlp.fc2"}


def is_monai_vit_state_dict(state: dict[str, torch.Tensor]) -> bool:
    """Whether ``state`` is a MONAI ``ViT`` (or, with prefix ``vit.``, ``UNETR``) state dict."""
    return MONAI_PATCH_KEY in state or f"vit.{MONAI_PATCH_KEY}" in state


def _is_grid_count(count: int) -> bool:
    side2, side3 = round(math.sqrt(count)), round(count ** (1 / 3))
    return count > 0 and (side2 * side2 == count or side3**3 == count)


def _pos_has_class(state: dict[str, torch.Tensor], pos_has_class: bool | None) -> bool:
    """Whether ``pos_embed`` holds a class-token entry (timm default) or only the grid."""
    if pos_has_class is not None:
        return pos_has_class
    if "cls_token" not in state:
        return False
    count = state["pos_embed"].shape[1]
    return _is_grid_count(count - 1) or not _is_grid_count(count)


def _fit_grid(
    state: dict[str, torch.Tensor],
    img_size: Sequence[int] | None,
    in_channels: int | None,
    prefix: int,
) -> dict[str, torch.Tensor]:
    """Adapt the timm kernel (channels, 2D -> 3D) and position grid to a target input."""
    kernel = state["patch_embed.proj.weight"]
    patch = tuple(kernel.shape[2:])
    if img_size is not None and len(img_size) == 3 and len(patch) == 2:
        patch = (*patch, patch[0])
    fitted = dict(state)
    channels = kernel.shape[1] if in_channels is None else in_channels
    fitted["patch_embed.proj.weight"] = adapt_patch_kernel(kernel, channels, patch)
    if img_size is not None:
        grid = tuple(int(s) // int(p) for s, p in zip(img_size, patch, strict=True))
        fitted["pos_embed"] = resample_pos_embed(state["pos_embed"], grid, None, prefix)
    return fitted


def _check_mappable(state: dict[str, torch.Tensor]) -> None:
    known = {"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"}
    known |= {"norm.weight", "norm.bias", "head.weight", "head.bias"}
    bad = []
    for key in state:
        match = _BLOCK_RE.match(key)
        if key in known or (match and (match[2] in _BLOCK_RENAMES or match[2] in _LAYER_SCALES)):
            continue
        bad.append(key)
    if bad:
        raise ValueError(
            "These timm keys have no counterpart in MONAI's ViT (register tokens, pre-norm, "
            f"fc-norm, q/k norm...): {bad}. Such a backbone cannot load into MONAI's ViT/UNETR; "
            "use vitp_monai.networks.VitpUNETR/VitpClassifier instead."
        )


def _convert_block(
    state: dict[str, torch.Tensor], index: int, fold: bool
) -> dict[str, torch.Tensor]:
    out = {}
    src, dst = f"blocks.{index}.", f"blocks.{index}."
    for timm_key, monai_key in _BLOCK_RENAMES.items():
        if src + timm_key in state:
            out[dst + monai_key] = state[src + timm_key].clone()
    for ls_key, proj in _LAYER_SCALES.items():
        gamma = state.get(src + ls_key)
        if gamma is None:
            continue
        if not fold:
            raise ValueError(
                f"{src + ls_key}: MONAI blocks have no LayerScale; use fold_layer_scale=True."
            )
        monai_proj = _BLOCK_RENAMES[f"{proj}.weight"].rsplit(".", 1)[0]
        out[f"{dst}{monai_proj}.weight"] = out[f"{dst}{monai_proj}.weight"] * gamma[:, None]
        out[f"{dst}{monai_proj}.bias"] = out[f"{dst}{monai_proj}.bias"] * gamma
    width = state[src + "norm1.weight"].shape[0]
    out[dst + "norm_cross_attn.weight"] = torch.ones(width, dtype=state[src + "norm1.weight"].dtype)
    out[dst + "norm_cross_attn.bias"] = torch.zeros(width, dtype=state[src + "norm1.weight"].dtype)
    return out


def _num_blocks(state: dict[str, torch.Tensor]) -> int:
    indices = {int(m[1]) for k in state if (m := _BLOCK_RE.match(k))}
    return max(indices) + 1 if indices else 0


def timm_to_monai_vit(
    state: dict[str, torch.Tensor],
    *,
    classification: bool = True,
    img_size: Sequence[int] | None = None,
    in_channels: int | None = None,
    fold_layer_scale: bool = True,
    pos_has_class: bool | None = None,
    head_key: str = "classification_head",
) -> dict[str, torch.Tensor]:
    """Convert a timm/ViTP ``VisionTransformer`` state dict to MONAI's ``ViT`` layout.

    Args:
        state: timm state dict (e.g. from a vitp export).
        classification: Target ``ViT(classification=...)``: with ``True`` the class token
            (and ``head``, if any) is kept; with ``False`` it is dropped.
        img_size: Target ``img_size`` (2 or 3 entries, pixels/voxels); the position grid is
            resampled and, for 3 entries, a 2D kernel inflated along the last axis
            (:mod:`vitp_monai.networks.inflation`). ``None`` keeps the grid.
        in_channels: Target input channels (timm's ``adapt_input_conv``); ``None`` keeps them.
        fold_layer_scale: Fold LayerScale into ``out_proj``/``linear2`` (exact).
        pos_has_class: Whether ``pos_embed`` has a class-token entry; inferred if ``None``.
        head_key: Target head module (``"classification_head.0"`` for
            ``post_activation="Tanh"``).

    Returns:
        A state dict for ``monai.networks.nets.ViT(..., qkv_bias=True)``.

    Raises:
        ValueError: When the state has parts MONAI's ViT cannot hold.
    """
    _check_mappable(state)
    has_class = _pos_has_class(state, pos_has_class)
    state = _fit_grid(state, img_size, in_channels, prefix=int(has_class))
    out: dict[str, torch.Tensor] = {
        MONAI_PATCH_KEY: state["patch_embed.proj.weight"].clone(),
        "patch_embedding.patch_embeddings.bias": state["patch_embed.proj.bias"].clone(),
    }
    pos = state["pos_embed"]
    out["patch_embedding.position_embeddings"] = pos[:, int(has_class) :].clone()
    if classification:
        out.update(_class_token_for_monai(state, pos, has_class))
        if "head.weight" in state:
            out[f"{head_key}.weight"] = state["head.weight"].clone()
            out[f"{head_key}.bias"] = state["head.bias"].clone()
    elif "cls_token" in state:
        logger.warning(
            "MONAI ViT(classification=False)/UNETR has no class token: the timm class token is "
            "dropped, so outputs differ from the timm model's."
        )
    for index in range(_num_blocks(state)):
        out.update(_convert_block(state, index, fold_layer_scale))
    if "norm.weight" in state:
        out["norm.weight"] = state["norm.weight"].clone()
        out["norm.bias"] = state["norm.bias"].clone()
    else:
        logger.warning(
            "The timm model has no final norm (e.g. InternViT); MONAI's ViT always has one, "
            "which keeps its initial value."
        )
    return out


def _class_token_for_monai(
    state: dict[str, torch.Tensor], pos: torch.Tensor, has_class: bool
) -> dict[str, torch.Tensor]:
    width = pos.shape[-1]
    if "cls_token" not in state:
        logger.warning("The timm model has no class token; MONAI's cls_token is set to zeros.")
        return {"cls_token": torch.zeros(1, 1, width, dtype=pos.dtype)}
    token = state["cls_token"]
    return {"cls_token": (token + pos[:, :1]).clone() if has_class else token.clone()}


def monai_vit_to_timm(
    state: dict[str, torch.Tensor],
    *,
    layer_scale: bool = False,
) -> dict[str, torch.Tensor]:
    """Convert a MONAI ``ViT`` (or ``UNETR``, prefix ``vit.``) state dict to timm's layout.

    Args:
        state: MONAI state dict.
        layer_scale: Emit ``ls1.gamma``/``ls2.gamma`` equal to 1 for a timm model built with
            ``init_values`` (e.g. InternViT).

    Returns:
        timm ``VisionTransformer`` state dict; ``pos_embed`` gets a zero class-token entry
        when the MONAI model has a ``cls_token`` (timm's ``no_embed_class=False`` layout).

    Raises:
        ValueError: For a perceptron patch embedding or keys with no timm counterpart.
    """
    if f"vit.{MONAI_PATCH_KEY}" in state and MONAI_PATCH_KEY not in state:
        state = {k[len("vit.") :]: v for k, v in state.items() if k.startswith("vit.")}
    if MONAI_PATCH_KEY not in state:
        raise ValueError(
            f"No '{MONAI_PATCH_KEY}' in the state dict: only MONAI's proj_type='conv' patch "
            "embedding maps to timm."
        )
    renames = {v: k for k, v in _BLOCK_RENAMES.items()}
    out = {
        "patch_embed.proj.weight": state[MONAI_PATCH_KEY].clone(),
        "patch_embed.proj.bias": state["patch_embedding.patch_embeddings.bias"].clone(),
    }
    pos = state["patch_embedding.position_embeddings"]
    if "cls_token" in state:
        out["cls_token"] = state["cls_token"].clone()
        pos = torch.cat([torch.zeros_like(pos[:, :1]), pos], dim=1)
    out["pos_embed"] = pos.clone()
    unmapped = []
    for key, value in state.items():
        match = _BLOCK_RE.match(key)
        if match and match[2] in renames:
            out[f"blocks.{match[1]}.{renames[match[2]]}"] = value.clone()
        elif match and match[2].startswith(("norm_cross_attn.", "cross_attn.")):
            continue  # unused without cross-attention; MONAI drops stale ones too
        elif key in {"norm.weight", "norm.bias"}:
            out[key] = value.clone()
        elif key.startswith("classification_head."):
            out["head." + key.rsplit(".", 1)[1]] = value.clone()
        elif not (key.startswith("patch_embedding.") or key == "cls_token"):
            unmapped.append(key)
    if unmapped:
        raise ValueError(f"These MONAI keys have no timm counterpart: {unmapped}.")
    if layer_scale:
        width = out["pos_embed"].shape[-1]
        for index in range(_num_blocks(out)):
            for ls_key in _LAYER_SCALES:
                out[f"blocks.{index}.{ls_key}"] = torch.ones(width, dtype=pos.dtype)
    return out


def timm_to_monai_unetr(
    state: dict[str, torch.Tensor],
    *,
    img_size: Sequence[int] | None = None,
    in_channels: int | None = None,
    fold_layer_scale: bool = True,
) -> dict[str, torch.Tensor]:
    """Convert a timm ViT state dict to the encoder keys (``vit.*``) of MONAI's ``UNETR``.

    MONAI's UNETR has a fixed ViT: 12 blocks, patch 16, no class token. Decoder keys are
    not produced: load with ``strict=False`` and they keep their initialisation.

    Args:
        state: timm state dict.
        img_size: UNETR's ``img_size``; for 3 entries a 2D backbone is inflated to 3D.
        in_channels: UNETR's ``in_channels``; ``None`` keeps the backbone's.
        fold_layer_scale: Fold LayerScale into the projections (exact).

    Returns:
        State dict with ``vit.``-prefixed MONAI ViT keys.

    Raises:
        ValueError: When depth or patch size differ from UNETR's.
    """
    depth = _num_blocks(state)
    patch = tuple(state["patch_embed.proj.weight"].shape[2:])
    if depth != UNETR_DEPTH or any(p != UNETR_PATCH for p in patch):
        raise ValueError(
            f"MONAI's UNETR needs a 12-block ViT with patch 16; this backbone has {depth} blocks "
            f"and patch {patch}. Use vitp_monai.networks.VitpUNETR, which takes any ViTP size."
        )
    converted = timm_to_monai_vit(
        state,
        classification=False,
        img_size=img_size,
        in_channels=in_channels,
        fold_layer_scale=fold_layer_scale,
    )
    return {f"vit.{k}": v for k, v in converted.items()}


def monai_unetr_to_timm(
    state: dict[str, torch.Tensor], *, layer_scale: bool = False
) -> dict[str, torch.Tensor]:
    """Extract the ViT of a MONAI ``UNETR`` state dict in timm's layout (no class token)."""
    return monai_vit_to_timm(
        {k: v for k, v in state.items() if k.startswith("vit.")}, layer_scale=layer_scale
    )


def set_layer_norm_eps(module: nn.Module, eps: float = 1e-6) -> int:
    """Set ``eps`` of every ``nn.LayerNorm`` in ``module`` (timm ViTs use ``1e-6``).

    Args:
        module: E.g. a MONAI ``ViT`` that received converted timm weights.
        eps: The epsilon to use.

    Returns:
        Number of LayerNorms changed.
    """
    count = 0
    for layer in module.modules():
        if isinstance(layer, nn.LayerNorm):
            layer.eps = eps
            count += 1
    return count
