"""ViTP weights in TorchGeo's convention, and the one loader every trainer uses.

Weights are named like TorchGeo's own (``ViTPIntern300M14_Weights.VITP_VIT_L_300M_RS``)
and carry the same ``meta`` keys (``dataset``, ``in_chans``, ``bands``, ``model``,
``publication``, ``repo``, ``ssl_method``...), plus what a ViTP backbone needs
(``img_size``, ``patch_size``, ``mean``/``std``, VRL settings). Their ``transforms``
normalise a TorchGeo sample dict with a kornia ``AugmentationSequential``.

:func:`load_vitp_weights` accepts any of:

* a weights enum member;
* its name as a string (``"ViTPIntern300M14_Weights.VITP_VIT_L_300M_RS"``), or the
  release name (``"ViTP_ViT_L_300M_rs"``);
* the path of a ``vitp export`` (``backbone.safetensors`` with its ``backbone.json``
  sidecar), or of a bare ``.safetensors``/``.pth`` state dict (timm or InternViT layout).

It converts official InternViT checkpoints to timm keys, adapts the patch embedding to
the model's bands (:mod:`vitp_torchgeo.bands`), resamples the position grid and patch
size, and reports missing/unexpected keys.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kornia.augmentation as K
import torch
from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn
from torch import Tensor
from torchvision.models._api import Weights, WeightsEnum

from vitp_torchgeo.bands import RGB_BANDS, BandAdaptation, adapt_patch_embed_weight
from vitp_torchgeo.hub import download_weights

__all__ = [
    "VITP_WEIGHTS",
    "ResolvedWeights",
    "ViTPBase16_Weights",
    "ViTPIntern300M14_Weights",
    "ViTPLarge16_Weights",
    "ViTPSmall16_Weights",
    "ViTPTiny16_Weights",
    "ViTPWeightsEnum",
    "WeightsLoadResult",
    "WeightsSpec",
    "load_vitp_weights",
    "read_weights",
    "resolve_weights",
    "weights_meta",
]

_logger = logging.getLogger(__name__)

#: ImageNet mean/std on the 0-255 pixel scale: the normalisation of InternViT and ViTP.
IMAGENET_MEAN_255: tuple[float, ...] = (123.675, 116.28, 103.53)
IMAGENET_STD_255: tuple[float, ...] = (58.395, 57.12, 57.375)

#: Anything :func:`load_vitp_weights` accepts.
WeightsSpec = WeightsEnum | str | os.PathLike


def normalize_transforms(mean: Sequence[float], std: Sequence[float]) -> K.AugmentationSequential:
    """Kornia normalisation of a TorchGeo sample dict (``{"image": (B, C, H, W)}``)."""
    return K.AugmentationSequential(
        K.Normalize(mean=torch.tensor(mean), std=torch.tensor(std)),
        data_keys=None,
        keepdim=True,
    )


_release_transforms = normalize_transforms(IMAGENET_MEAN_255, IMAGENET_STD_255)

_RELEASE_URL = "https://huggingface.co/GreatBird/ViTP/resolve/main/ckpts/{name}.safetensors"
_RELEASE_META: dict[str, Any] = {
    "in_chans": 3,
    "bands": list(RGB_BANDS),
    "img_size": 448,
    "patch_size": 14,
    "embed_dim": 1024,
    "model": "vitp_intern300m_patch14_448",
    "publication": "https://arxiv.org/abs/2509.17562",
    "repo": "https://github.com/zcablii/ViTP",
    "ssl_method": "vitp",
    "hf_hub_id": "GreatBird/ViTP",
    # Pixels on the 0-255 scale, normalised as InternVL does (ImageNet statistics).
    "mean": list(IMAGENET_MEAN_255),
    "std": list(IMAGENET_STD_255),
    # Pretrained with Visual Robustness Learning (sparse visual tokens); the release
    # files do not record its hyper-parameters: see the publication.
    "vrl": {"enabled": True},
}


class ViTPWeightsEnum(WeightsEnum):  # type: ignore[misc]
    """Base of all ViTP weights enums: safetensors weights returned in timm's layout."""

    def get_state_dict(self, progress: bool = True, **kwargs: Any) -> dict[str, Tensor]:
        """Download (once) and read the weights as a timm ``VisionTransformer`` state dict.

        Args:
            progress: Show a download progress bar.
            **kwargs: Ignored (torchvision passes ``check_hash`` and friends).

        Returns:
            The state dict, InternViT keys already renamed to timm's.
        """
        path = download_weights(self.url, sha256=self.meta.get("sha256"), progress=progress)
        return _read_state_dict(path)


class ViTPTiny16_Weights(ViTPWeightsEnum):  # type: ignore[misc]
    """ViTP ViT-Tiny/16 weights (timm ``vitp_tiny_patch16_224``).

    No weights of this size are published; use a ``vitp export`` path as ``weights``.
    """


class ViTPSmall16_Weights(ViTPWeightsEnum):  # type: ignore[misc]
    """ViTP ViT-Small/16 weights (timm ``vitp_small_patch16_224``).

    No weights of this size are published; use a ``vitp export`` path as ``weights``.
    """


class ViTPBase16_Weights(ViTPWeightsEnum):  # type: ignore[misc]
    """ViTP ViT-Base/16 weights (timm ``vitp_base_patch16_224``).

    No weights of this size are published; use a ``vitp export`` path as ``weights``.
    """


class ViTPLarge16_Weights(ViTPWeightsEnum):  # type: ignore[misc]
    """ViTP ViT-Large/16 weights (timm ``vitp_large_patch16_224``).

    No weights of this size are published; use a ``vitp export`` path as ``weights``.
    """


class ViTPIntern300M14_Weights(ViTPWeightsEnum):  # type: ignore[misc]
    """ViTP InternViT-300M/14 weights at 448 px (timm ``vitp_intern300m_patch14_448``).

    The official release of Li et al. (2025), the vision tower of InternVL2.5-1B after
    Visual insTruction Pretraining, hosted by the authors on the Hugging Face Hub
    (``GreatBird/ViTP``) in InternViT's key layout.
    """

    VITP_VIT_L_300M_RS = Weights(
        url=_RELEASE_URL.format(name="ViTP_ViT_L_300M_rs"),
        transforms=_release_transforms,
        meta={
            **_RELEASE_META,
            "dataset": "ViTP remote-sensing visual instruction corpus",
            "release": "ViTP_ViT_L_300M_rs",
            "hf_filename": "ckpts/ViTP_ViT_L_300M_rs.safetensors",
        },
    )

    VITP_VIT_L_300M_MED = Weights(
        url=_RELEASE_URL.format(name="ViTP_ViT_L_300M_med"),
        transforms=_release_transforms,
        meta={
            **_RELEASE_META,
            "dataset": "ViTP medical-imaging visual instruction corpus",
            "release": "ViTP_ViT_L_300M_med",
            "hf_filename": "ckpts/ViTP_ViT_L_300M_med.safetensors",
        },
    )


#: Every ViTP weights enum with the timm model name it belongs to.
VITP_WEIGHTS: dict[str, type[ViTPWeightsEnum]] = {
    "vitp_tiny_patch16_224": ViTPTiny16_Weights,
    "vitp_small_patch16_224": ViTPSmall16_Weights,
    "vitp_base_patch16_224": ViTPBase16_Weights,
    "vitp_large_patch16_224": ViTPLarge16_Weights,
    "vitp_intern300m_patch14_448": ViTPIntern300M14_Weights,
}


def _to_timm_layout(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename an official InternViT state dict to timm keys; pass others through."""
    from vitp_core.checkpoints.internvit import (
        INTERNVL_NON_VISION_PREFIXES,
        internvit_to_timm,
        is_internvit_state_dict,
    )

    if is_internvit_state_dict(state):
        return internvit_to_timm(state, ignore_prefixes=INTERNVL_NON_VISION_PREFIXES)
    return dict(state)


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    """Read a safetensors or ``weights_only`` PyTorch file in timm's layout."""
    from vitp_core.checkpoints.state_io import read_state_dict

    return _to_timm_layout(read_state_dict(path))


def resolve_weights(weights: WeightsSpec) -> WeightsEnum | Path:
    """Turn a weights value from Python or YAML into an enum member or a file path.

    Args:
        weights: Enum member, its string name (``"ViTPIntern300M14_Weights.X"``), a
            release name (``"ViTP_ViT_L_300M_rs"``), or the path of a weights file.

    Returns:
        The enum member, or the file path.

    Raises:
        ValueError: When a string is neither an existing file nor a known weights name.
    """
    if isinstance(weights, WeightsEnum):
        return weights
    text = os.fspath(weights)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    for enum in VITP_WEIGHTS.values():
        for member in enum:
            if text in (str(member), member.meta.get("release")):
                return member
    from torchgeo.models import get_weight

    try:
        return get_weight(text)
    except ValueError:
        pass
    known = [str(m) for enum in VITP_WEIGHTS.values() for m in enum]
    raise ValueError(
        f"weights={text!r} is neither an existing file nor a known weights name. "
        f"Pass a `vitp export` .safetensors path, or one of {known}."
    )


def _export_bands(path: Path, bands: Sequence[str] | None, in_chans: int) -> list[str] | None:
    """Band names of an export; an older 3-band export without them is taken as RGB.

    ``vitp pretrain`` reads 3-band corpora as RGB images, so a 3-band export that records no
    names is RGB; saying so lets the patch embedding be adapted by name (a warning tells
    how to record the names: ``vitp export ... --band-names``).
    """
    if bands:
        return list(bands)
    if in_chans != len(RGB_BANDS):
        return None
    warnings.warn(
        f"{path} records no band names; taking its 3 bands as {list(RGB_BANDS)}. Record "
        "them with `vitp export <export> --out <new> --band-names ...`.",
        UserWarning,
        stacklevel=3,
    )
    return list(RGB_BANDS)


def _export_meta(path: Path) -> dict[str, Any]:
    """Meta of a ``vitp export`` file from its sidecar, checking the file's SHA-256.

    A sidecar without a checksum is refused too; for a file you trust, record one with
    ``vitp export FILE --out NEW.safetensors --no-verify-checksum``.
    """
    from vitp_core.export import read_metadata, verify_sidecar_checksum

    meta = read_metadata(path)
    verify_sidecar_checksum(path, meta)
    return {
        "model": meta.model,
        "model_kwargs": dict(meta.model_kwargs),
        "in_chans": meta.in_chans,
        "bands": _export_bands(path, meta.band_names, meta.in_chans),
        "img_size": tuple(meta.img_size),
        "patch_size": meta.patch_size,
        "embed_dim": meta.embed_dim,
        "mean": meta.mean,
        "std": meta.std,
        "dataset": meta.corpus.get("name", ""),
        "corpus": dict(meta.corpus),
        "vrl": dict(meta.vrl),
        "steps": meta.steps,
        "ssl_method": "vitp",
    }


def _file_meta(path: Path) -> dict[str, Any]:
    """Meta of a weights file: from its sidecar when there is one, else from its tensors."""
    from vitp_core.export import sidecar_path

    if path.suffix == ".safetensors" and sidecar_path(path).exists():
        return _export_meta(path)
    state = _read_state_dict(path)
    kernel = state.get("patch_embed.proj.weight")
    if kernel is None:
        raise ValueError(
            f"{path} has no 'patch_embed.proj.weight': it is not a ViT backbone state dict "
            "(timm or InternViT layout). Export a backbone with `vitp export`."
        )
    meta: dict[str, Any] = {"in_chans": kernel.shape[1], "patch_size": kernel.shape[-1]}
    # LayerScale, no final norm and 14 px patches: an InternViT-300M (e.g. a release file
    # downloaded by hand), whose architecture the trainers can then take from here.
    if "blocks.0.ls1.gamma" in state and "norm.weight" not in state and kernel.shape[-1] == 14:
        meta["model"] = "vitp_intern300m_patch14_448"
    return meta


def weights_meta(weights: WeightsSpec) -> dict[str, Any]:
    """Return the metadata of weights without keeping their tensors.

    Keys (when known): ``model``, ``model_kwargs``, ``in_chans``, ``bands``,
    ``img_size``, ``patch_size``, ``mean``, ``std`` and provenance.
    """
    resolved = resolve_weights(weights)
    if isinstance(resolved, WeightsEnum):
        return dict(resolved.meta)
    return _file_meta(resolved)


@dataclass
class ResolvedWeights:
    """Weights read into memory.

    Attributes:
        state_dict: timm ``VisionTransformer`` state dict.
        meta: Metadata (see :func:`weights_meta`).
        source: Enum name or file path, for messages.
    """

    state_dict: dict[str, Tensor]
    meta: dict[str, Any]
    source: str


def read_weights(weights: WeightsSpec, *, progress: bool = True) -> ResolvedWeights:
    """Read weights (downloading a released file on first use) in timm's layout."""
    resolved = resolve_weights(weights)
    if isinstance(resolved, WeightsEnum):
        state = resolved.get_state_dict(progress=progress)
        return ResolvedWeights(_to_timm_layout(state), dict(resolved.meta), str(resolved))
    return ResolvedWeights(_read_state_dict(resolved), _file_meta(resolved), os.fspath(resolved))


@dataclass
class WeightsLoadResult:
    """What :func:`load_vitp_weights` did.

    Attributes:
        source: Enum name or file path of the weights.
        missing_keys: Model keys the weights did not provide.
        unexpected_keys: Weight keys the model has no place for.
        band_adaptation: How the patch embedding was adapted to the model's bands.
        meta: Metadata of the weights.
    """

    source: str
    missing_keys: list[str]
    unexpected_keys: list[str]
    band_adaptation: BandAdaptation
    meta: dict[str, Any] = field(default_factory=dict)


_CLASSIFIER_PREFIXES = ("head.", "fc_norm.")


def _drop_mismatched_head(state: dict[str, Tensor], model: VisionTransformer) -> None:
    """Remove classifier tensors that do not fit the model's head (new task, new classes)."""
    own = model.state_dict()
    for key in [k for k in state if k.startswith(_CLASSIFIER_PREFIXES)]:
        if key not in own or own[key].shape != state[key].shape:
            del state[key]


def load_vitp_weights(
    model: VisionTransformer,
    weights: WeightsSpec,
    *,
    bands: Sequence[str] | None = None,
    strict_backbone: bool = True,
    progress: bool = True,
) -> WeightsLoadResult:
    """Load ViTP weights into a timm ``VisionTransformer``, adapting bands and grid.

    Args:
        model: The ViT (any ``in_chans``, image size and head).
        weights: Enum member, weights name, or path (see the module docstring).
        bands: Band names of the model input, for adaptation by name.
        strict_backbone: Raise when a backbone key is missing or a weight key is
            unexpected (classifier keys excepted).
        progress: Show a download progress bar for released weights.

    Returns:
        Missing/unexpected keys and the band adaptation applied (also logged, and
        warned about when the bands changed).

    Raises:
        ValueError: When the weights do not fit the model's architecture.
    """
    resolved = read_weights(weights, progress=progress)
    state = dict(resolved.state_dict)
    _drop_mismatched_head(state, model)
    kernel_key = "patch_embed.proj.weight"
    if kernel_key not in state:
        raise ValueError(f"{resolved.source}: no {kernel_key!r}; not a ViT backbone state dict.")
    state[kernel_key], adaptation = adapt_patch_embed_weight(
        state[kernel_key],
        model.patch_embed.proj.in_channels,
        resolved.meta.get("bands"),
        bands,
    )
    state = checkpoint_filter_fn(state, model)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise ValueError(
            f"{resolved.source} (model {resolved.meta.get('model', 'unknown')}) does not fit "
            f"this backbone (width {model.embed_dim}, depth {len(model.blocks)}): {err}. "
            "Choose the backbone the weights were trained with."
        ) from err
    backbone_missing = [k for k in missing if not k.startswith(_CLASSIFIER_PREFIXES)]
    if strict_backbone and (backbone_missing or unexpected):
        raise ValueError(
            f"{resolved.source} does not match the backbone: missing {backbone_missing}, "
            f"unexpected {list(unexpected)}. Choose the backbone the weights were trained "
            f"with ({resolved.meta.get('model', 'unknown')})."
        )
    _logger.info(
        "Loaded %s: %d missing, %d unexpected keys; bands: %s",
        resolved.source,
        len(missing),
        len(unexpected),
        adaptation.message,
    )
    return WeightsLoadResult(
        resolved.source, list(missing), list(unexpected), adaptation, resolved.meta
    )
