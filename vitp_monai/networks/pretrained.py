"""Loading ViTP weights into vitp_monai networks, the way MONAI networks take ``pretrained``.

A source is a local file or a Hugging Face Hub id:

* a vitp export: ``backbone.safetensors`` with its ``backbone.json`` sidecar (the SHA-256
  recorded there is checked; the sidecar also names the timm model);
* a raw timm ``VisionTransformer`` state dict (``.safetensors``, or ``.pt``/``.pth``/``.bin``
  read with ``torch.load(weights_only=True)``), possibly nested under ``state_dict``/``model``
  and prefixed with ``module.``/``backbone.``/``vit.``;
* an official InternViT checkpoint (converted by ``vitp_core.checkpoints.internvit``);
* a MONAI ``monai.networks.nets.ViT``/``UNETR`` state dict (converted by
  :mod:`vitp_monai.networks.monai_layout`);
* ``hf-hub:org/repo`` or ``hf-hub:org/repo/file.safetensors`` (downloaded with
  ``huggingface_hub`` when installed; the sidecar is fetched too when the repo has one).

Weights are then fitted to the target encoder (input channels, patch size, 2D -> 3D
inflation, position grid) and loaded **strictly** by default: a model tensor left without
a weight, a file tensor with no place in the model, or a tensor whose shape cannot be
fitted raises :class:`PretrainedWeightsMismatchError` with the whole :class:`LoadReport`,
before anything is loaded. The only allowed exceptions are named in
:data:`ALLOWED_UNEXPECTED_PREFIXES` (a classification head the headless encoder has no
place for). ``strict=False`` loads what fits and logs the report as a warning.

A vitp export's sidecar must record the file's SHA-256 (``verify_checksum=False`` to load
one without), and NaN/Inf weights are refused.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file

from vitp_core.export import (
    BackboneMetadata,
    check_finite_state,
    read_metadata,
    sidecar_path,
    verify_sidecar_checksum,
)
from vitp_monai.networks.inflation import adapt_patch_kernel, resample_pos_embed

if TYPE_CHECKING:
    from vitp_monai.networks.encoder import VitpEncoder

__all__ = [
    "ALLOWED_UNEXPECTED_PREFIXES",
    "HUB_PREFIX",
    "LoadReport",
    "PretrainedWeightsMismatchError",
    "fetch_weights",
    "load_backbone_weights",
    "read_state_dict",
    "resolve_backbone",
]

logger = logging.getLogger(__name__)

#: Prefix that marks a Hugging Face Hub source, as in timm (``hf-hub:org/repo``).
HUB_PREFIX = "hf-hub:"
#: File names tried, in order, in a Hub repo when the id names no file.
HUB_DEFAULT_FILES = ("backbone.safetensors", "model.safetensors")
#: Wrapper keys of training checkpoints that hold the actual state dict.
_NESTED_KEYS = ("state_dict", "model", "network", "module")
#: Key prefixes stripped when every key carries them (DDP, Lightning, vitp networks).
_STRIP_PREFIXES = ("module.", "model.", "backbone.", "encoder.vit.", "vit.")
#: Sidecar ``model_kwargs`` that the network sets itself.
_NETWORK_OWNED_KWARGS = frozenset({"in_chans", "img_size", "num_classes", "drop_path_rate"})
#: File keys a strict load ignores: a classification head (and timm's pre-head norm of
#: average-pooled models), which the headless encoder has no place for.
ALLOWED_UNEXPECTED_PREFIXES = ("head.", "fc_norm.")


@dataclass
class LoadReport:
    """Outcome of loading weights into a backbone.

    Attributes:
        source: The source as given.
        path: The local file read.
        missing_keys: Model keys that got no weight (left at their initial value).
        unexpected_keys: File keys the model has no place for.
        adapted: Human-readable notes on tensors that were reshaped to fit.
        converted_from: Source layout when not timm (``"internvit"``, ``"monai_vit"``).
        ignored_keys: File keys ignored as allowed exceptions
            (:data:`ALLOWED_UNEXPECTED_PREFIXES`).
        skipped: Notes on file tensors whose shape could not be fitted (not loaded).
        loaded: Model tensors that received a weight.
        total: Model tensors.
    """

    source: str
    path: Path
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    converted_from: str = "timm"
    ignored_keys: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    loaded: int = 0
    total: int = 0

    @property
    def ok(self) -> bool:
        """Whether every model tensor got a weight and every file tensor was used."""
        return not (self.missing_keys or self.unexpected_keys or self.skipped)

    def __str__(self) -> str:
        lines = [
            f"{self.path} ({self.converted_from} layout): {self.loaded} of {self.total} "
            "tensors loaded."
        ]
        lines += [f"  adapted: {note}" for note in self.adapted]
        lines += [f"  not loaded: {note}" for note in self.skipped]
        if self.missing_keys:
            lines.append(
                f"  missing keys ({len(self.missing_keys)}, left at their initial value): "
                f"{_listing(self.missing_keys)}"
            )
        if self.unexpected_keys:
            lines.append(
                f"  unexpected keys ({len(self.unexpected_keys)}, no place in the model): "
                f"{_listing(self.unexpected_keys)}"
            )
        if self.ignored_keys:
            lines.append(f"  ignored (allowed): {', '.join(self.ignored_keys)}")
        return "\n".join(lines)


def _listing(keys: list[str], limit: int = 12) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" ... and {len(keys) - limit} more" if len(keys) > limit else "")


class PretrainedWeightsMismatchError(RuntimeError):
    """Pretrained weights do not fit the network; nothing was loaded.

    Attributes:
        report: The :class:`LoadReport` of what would have been loaded.
    """

    def __init__(self, report: LoadReport) -> None:
        self.report = report
        super().__init__(
            f"Pretrained weights do not fit the network: {report}\n"
            "Check that backbone/backbone_kwargs (or the export's .json sidecar) describe "
            "the architecture of these weights; pass pretrained_strict=False (or "
            "strict=False) to load only what fits."
        )


def _is_hub_id(source: str) -> bool:
    return source.startswith(HUB_PREFIX)


def _download_from_hub(hub_id: str) -> Path:
    """Download a weights file (and its sidecar, if any) from the Hugging Face Hub."""
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError
    except ImportError as err:  # pragma: no cover - huggingface_hub is a core dependency
        raise ImportError(
            f"Loading {hub_id!r} needs huggingface_hub: pip install huggingface_hub."
        ) from err
    parts = hub_id[len(HUB_PREFIX) :].strip("/").split("/")
    if len(parts) < 2:
        raise ValueError(f"Hub id {hub_id!r} must look like hf-hub:org/repo[/file.safetensors].")
    repo_id = "/".join(parts[:2])
    candidates = ["/".join(parts[2:])] if len(parts) > 2 else list(HUB_DEFAULT_FILES)
    errors = []
    for filename in candidates:
        try:
            path = Path(hf_hub_download(repo_id=repo_id, filename=filename))
        except EntryNotFoundError as err:  # try the next conventional file name
            errors.append(f"{filename}: {err}")
            continue
        _download_sidecar(hf_hub_download, EntryNotFoundError, repo_id, filename)
        return path
    raise FileNotFoundError(f"No weights found in Hub repo {repo_id!r}: " + "; ".join(errors))


def _download_sidecar(
    download: Any, not_found: type[Exception], repo_id: str, filename: str
) -> None:
    """Fetch ``x.json`` next to ``x.safetensors`` when the repo has it (best effort)."""
    if not filename.endswith(".safetensors"):
        return
    try:
        download(repo_id=repo_id, filename=filename[: -len(".safetensors")] + ".json")
    except not_found:  # a plain timm repo has no sidecar
        logger.debug("No vitp sidecar for %s in %s.", filename, repo_id)


def fetch_weights(source: str | os.PathLike[str]) -> Path:
    """Return a local path for ``source``, downloading Hub ids.

    Raises:
        FileNotFoundError: When a local path does not exist.
    """
    text = os.fspath(source)
    if _is_hub_id(text):
        return _download_from_hub(text)
    path = Path(text).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"Pretrained weights {path} not found. Pass a vitp export (.safetensors with its .json "
            f"sidecar), a timm/MONAI state dict (.safetensors/.pt/.pth), or {HUB_PREFIX}org/repo."
        )
    return path


def _read_sidecar(path: Path) -> BackboneMetadata | None:
    return read_metadata(path) if sidecar_path(path).is_file() else None


def _load_file(path: Path) -> Mapping[str, Any]:
    if path.suffix == ".safetensors":
        return load_file(str(path))
    if path.suffix in {".pt", ".pth", ".bin", ".ckpt"}:
        return torch.load(path, map_location="cpu", weights_only=True)
    raise ValueError(
        f"{path}: unsupported weights format {path.suffix!r}; use .safetensors, .pt, .pth, .bin "
        "or .ckpt."
    )


def _unwrap(obj: Mapping[str, Any], path: Path) -> dict[str, torch.Tensor]:
    """Descend into ``{"state_dict": ...}``-style wrappers and strip shared key prefixes."""
    while not all(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = next((obj[k] for k in _NESTED_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            raise ValueError(
                f"{path}: not a state dict (values are not all tensors and none of the keys "
                f"{_NESTED_KEYS} holds one)."
            )
        obj = inner
    state = dict(obj)
    stripped = True
    while stripped and state:
        stripped = False
        for prefix in _STRIP_PREFIXES:
            if all(k.startswith(prefix) for k in state):
                state = {k[len(prefix) :]: v for k, v in state.items()}
                stripped = True
    return state


def _sub_state(state: dict[str, torch.Tensor], anchor: str) -> dict[str, torch.Tensor] | None:
    """Return the keys under the prefix at which ``anchor`` occurs, prefix removed.

    This picks the backbone out of a whole-network checkpoint, e.g. ``encoder.vit.*`` of a
    :class:`~vitp_monai.networks.VitpUNETR` or ``vit.*`` of a MONAI ``UNETR``.
    """
    if anchor in state:
        return state
    prefix = next((k[: -len(anchor)] for k in state if k.endswith("." + anchor)), None)
    if prefix is None:
        return None
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _to_timm_layout(
    state: dict[str, torch.Tensor], path: Path
) -> tuple[dict[str, torch.Tensor], str]:
    """Pick the backbone keys and convert InternViT or MONAI-ViT layouts to timm's."""
    from vitp_monai.networks.monai_layout import MONAI_PATCH_KEY, monai_vit_to_timm

    timm_state = _sub_state(state, "patch_embed.proj.weight")
    if timm_state is not None:
        return timm_state, "timm"
    monai_state = _sub_state(state, MONAI_PATCH_KEY)
    if monai_state is not None:
        return monai_vit_to_timm(monai_state), "monai_vit"
    from vitp_core.checkpoints.internvit import (
        INTERNVL_NON_VISION_PREFIXES,
        internvit_to_timm,
        is_internvit_state_dict,
    )

    if is_internvit_state_dict(state):
        return internvit_to_timm(state, ignore_prefixes=INTERNVL_NON_VISION_PREFIXES), "internvit"
    raise ValueError(
        f"{path}: no ViT patch embedding found (looked for timm 'patch_embed.proj.weight', MONAI "
        f"'{MONAI_PATCH_KEY}' and InternViT 'embeddings.patch_embedding.weight'); first keys: "
        f"{sorted(state)[:5]}."
    )


def read_state_dict(
    source: str | os.PathLike[str], *, verify_checksum: bool = True
) -> tuple[dict[str, torch.Tensor], Path, BackboneMetadata | None, str]:
    """Read a backbone state dict in timm's key layout.

    Args:
        source: Local file or ``hf-hub:`` id (see the module docstring).
        verify_checksum: Check a vitp export against the SHA-256 of its sidecar (a
            sidecar without one is an error unless this is ``False``).

    Returns:
        The state dict, the local path, the sidecar metadata (``None`` without one) and
        the layout it was converted from.

    Raises:
        BackboneChecksumError: When the sidecar's SHA-256 is missing or does not match.
        vitp_core.export.NonFiniteWeightsError: When a weight is NaN/Inf.
    """
    path = fetch_weights(source)
    meta = _read_sidecar(path)
    if meta is not None:
        verify_sidecar_checksum(path, meta, verify_checksum=verify_checksum)
    state = _unwrap(_load_file(path), path)
    check_finite_state(state, path)
    state, layout = _to_timm_layout(state, path)
    return state, path, meta, layout


def resolve_backbone(
    backbone: str | None,
    backbone_kwargs: Mapping[str, Any] | None,
    pretrained: str | os.PathLike[str] | None,
) -> tuple[str, dict[str, Any]]:
    """Decide the timm model name and kwargs, taking them from an export's sidecar if needed.

    With a vitp export, the sidecar's ``model_kwargs`` (e.g. a custom ``depth``) are used
    when ``backbone`` is ``None`` or names the same model; ``backbone_kwargs`` win.

    Raises:
        ValueError: When ``backbone`` is ``None`` and no sidecar names the model.
    """
    kwargs = dict(backbone_kwargs or {})
    meta = _read_sidecar(fetch_weights(pretrained)) if pretrained is not None else None
    if meta is not None and backbone in (None, meta.model):
        inherited = {k: v for k, v in meta.model_kwargs.items() if k not in _NETWORK_OWNED_KWARGS}
        return meta.model, {**inherited, **kwargs}
    if backbone is None:
        raise ValueError(
            "backbone=None needs pretrained= to be a vitp export whose .json sidecar names the "
            f"model; got pretrained={pretrained!r}. Pass a backbone name such as "
            "'vitp_small_patch16_224'."
        )
    return backbone, kwargs


def _source_grid(meta: BackboneMetadata | None) -> tuple[int, ...] | None:
    if meta is None:
        return None
    return tuple(int(s) // int(meta.patch_size) for s in meta.img_size)


def _kernel_note(source: tuple[int, ...], target: tuple[int, ...]) -> str:
    """Say what :func:`adapt_patch_kernel` did to a kernel of shape ``source``."""
    steps = []
    if source[1] != target[1]:
        steps.append(f"input channels {source[1]} -> {target[1]}")
    if source[2:4] != target[2:4]:
        steps.append(f"patch {source[2:4]} -> {target[2:4]} resampled")
    if len(source) == 4 and len(target) == 5:
        steps.append(f"inflated to 3D, depth {target[4]}")
    return f"patch_embed.proj.weight {source} -> {target} ({', '.join(steps)})"


def _fit_pos_embed(
    pos: torch.Tensor,
    state: dict[str, torch.Tensor],
    vit: torch.nn.Module,
    source_grid: tuple[int, ...] | None,
) -> torch.Tensor:
    """Resample ``pos`` to the model's grid and match its class-token entry.

    A source with a class token (timm default) loading into a model without one loses the
    entry; the reverse (e.g. MONAI UNETR weights into a ViTP model) gets a zero entry.
    """
    target_prefix = 0 if vit.no_embed_class else vit.num_prefix_tokens
    source_has_class = "cls_token" in state
    if source_has_class == (vit.cls_token is not None):
        source_prefix = target_prefix
    else:
        source_prefix = 1 if source_has_class and not vit.no_embed_class else 0
    new = resample_pos_embed(pos, vit.patch_embed.grid_size, source_grid, source_prefix)
    if source_prefix > target_prefix:
        new = new[:, source_prefix - target_prefix :]
    elif source_prefix < target_prefix:
        pad = new.new_zeros(1, target_prefix - source_prefix, new.shape[-1])
        new = torch.cat([pad, new], dim=1)
    return new


def _fit_to_encoder(
    state: dict[str, torch.Tensor],
    encoder: VitpEncoder,
    meta: BackboneMetadata | None,
) -> tuple[dict[str, torch.Tensor], list[str], list[str]]:
    """Reshape patch kernel and position grid to the encoder; set other misfits aside.

    Returns:
        The fitted state, notes on what was adapted, notes on what does not fit.
    """
    vit = encoder.vit
    target = vit.state_dict()
    notes: list[str] = []
    skipped: list[str] = []
    fitted = dict(state)
    kernel = state.get("patch_embed.proj.weight")
    want = target["patch_embed.proj.weight"]
    if kernel is not None and kernel.shape != want.shape:
        fitted["patch_embed.proj.weight"] = adapt_patch_kernel(
            kernel, want.shape[1], want.shape[2:]
        )
        notes.append(_kernel_note(tuple(kernel.shape), tuple(want.shape)))
    pos = state.get("pos_embed")
    if pos is not None and "pos_embed" in target and pos.shape != target["pos_embed"].shape:
        new = _fit_pos_embed(pos, state, vit, _source_grid(meta))
        fitted["pos_embed"] = new
        notes.append(f"pos_embed {tuple(pos.shape)} -> {tuple(new.shape)} (grid resampled)")
    for key, value in list(fitted.items()):
        if key in target and value.shape != target[key].shape:
            del fitted[key]
            skipped.append(
                f"{key}: shape {tuple(value.shape)} does not fit {tuple(target[key].shape)}"
            )
    return fitted, notes, skipped


def load_backbone_weights(
    encoder: VitpEncoder,
    source: str | os.PathLike[str],
    strict: bool = True,
    *,
    verify_checksum: bool = True,
) -> LoadReport:
    """Load pretrained backbone weights into a :class:`VitpEncoder`.

    Args:
        encoder: The target encoder; weights go into ``encoder.vit``.
        source: Local file or ``hf-hub:`` id.
        strict: Refuse weights that do not fit (missing, unexpected or unfittable
            tensors, other than :data:`ALLOWED_UNEXPECTED_PREFIXES`); nothing is loaded
            then. ``False`` loads what fits and logs the report as a warning.
        verify_checksum: Check a vitp export against its sidecar's SHA-256.

    Returns:
        The :class:`LoadReport` (also logged).

    Raises:
        PretrainedWeightsMismatchError: With ``strict`` and weights that do not fit.
        vitp_core.export.BackboneChecksumError: For a missing or wrong checksum.
        vitp_core.export.NonFiniteWeightsError: For NaN/Inf weights.
    """
    state, path, meta, layout = read_state_dict(source, verify_checksum=verify_checksum)
    fitted, notes, skipped = _fit_to_encoder(state, encoder, meta)
    target = encoder.vit.state_dict()
    ignored = sorted(
        k for k in fitted if k not in target and k.startswith(ALLOWED_UNEXPECTED_PREFIXES)
    )
    usable = {k: v for k, v in fitted.items() if k not in ignored}
    report = LoadReport(
        source=os.fspath(source),
        path=path,
        missing_keys=[k for k in target if k not in usable],
        unexpected_keys=sorted(k for k in usable if k not in target),
        adapted=notes,
        converted_from=layout,
        ignored_keys=ignored,
        skipped=skipped,
        loaded=sum(k in usable for k in target),
        total=len(target),
    )
    if strict and not report.ok:
        raise PretrainedWeightsMismatchError(report)
    encoder.vit.load_state_dict({k: v for k, v in usable.items() if k in target}, strict=False)
    logger.log(logging.INFO if report.ok else logging.WARNING, "%s", report)
    return report
