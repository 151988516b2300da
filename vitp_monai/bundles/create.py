"""Create a MONAI bundle from a vitp_monai template, optionally initialised from a ViTP export."""

from __future__ import annotations

import json
import os
import shutil
import string
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import jsonschema

from vitp_core.atomic_io import atomic_path, atomic_write_json, atomic_write_text, sha256_file
from vitp_core.export import read_metadata, sidecar_path, verify_sidecar_checksum

__all__ = ["BUNDLE_TASKS", "METADATA_SCHEMA_PATH", "TEMPLATES_DIR", "init_bundle"]

Task = Literal["segmentation", "classification", "segmentation2d", "classification2d"]

#: Tasks with a bundle template: NIfTI volumes, MedMNIST files, 2D image folders.
BUNDLE_TASKS: tuple[str, ...] = (
    "segmentation",
    "classification",
    "segmentation2d",
    "classification2d",
)
#: Folder of the bundle templates shipped with the package.
TEMPLATES_DIR = Path(__file__).parent / "templates"
#: JSON schema of ``metadata.json``, written from MONAI's bundle specification.
METADATA_SCHEMA_PATH = Path(__file__).parent / "meta_schema.json"
#: Where ``init`` puts the ViTP export inside the bundle, and how configs refer to it.
WEIGHTS_NAME = "backbone.safetensors"
PRETRAINED_EXPR = f"$os.path.join(@bundle_root, 'models', '{WEIGHTS_NAME}')"
#: Sidecar ``model_kwargs`` that the bundle's network sets itself.
_NETWORK_OWNED_KWARGS = frozenset({"in_chans", "img_size", "num_classes", "drop_path_rate"})
#: The config file that loads the backbone export (the others load ``models/model.pt``).
_TRAIN_CONFIG = "train.json"
#: Packages whose installed versions go into ``metadata.json``.
_PACKAGES = {
    "vitp": "vitp",
    "timm": "timm",
    "pytorch-ignite": "pytorch-ignite",
    "nibabel": "nibabel",
}


def _installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _copy_weights(
    weights: Path, models_dir: Path, verify_checksum: bool = True
) -> dict[str, Any] | None:
    """Copy a ViTP export (and its sidecar) into ``models/``, checking its SHA-256.

    A sidecar without a checksum is refused unless ``verify_checksum`` is false; the
    copy's sidecar then records the checksum of the copied file.

    Returns:
        The sidecar payload, or ``None`` for a raw state dict without one.
    """
    if not weights.is_file():
        raise FileNotFoundError(f"--weights {weights} does not exist.")
    if weights.suffix != ".safetensors":
        raise ValueError(f"--weights {weights} must be a .safetensors file (a vitp export).")
    meta = read_metadata(weights) if sidecar_path(weights).is_file() else None
    if meta is not None:
        verify_sidecar_checksum(weights, meta, verify_checksum=verify_checksum)
    target = models_dir / WEIGHTS_NAME
    with atomic_path(target) as tmp:
        shutil.copyfile(weights, tmp)
        digest = sha256_file(tmp)
    if meta is None:
        return None
    meta.sha256 = digest  # the file copied (checked above unless the user opted out)
    payload = meta.to_json()
    atomic_write_json(sidecar_path(target), payload)
    return payload


def _config_values(
    task: Task,
    *,
    backbone: str,
    backbone_kwargs: Mapping[str, Any],
    roi_size: Sequence[int] | None,
    in_channels: int | None,
    num_classes: int | None,
    patch_size: int | Sequence[int] | None,
    dataset_dir: str | None,
) -> dict[str, Any]:
    """Top-level config values that ``init`` sets in ``train.json`` and ``inference.json``."""
    values: dict[str, Any] = {"backbone": backbone, "backbone_kwargs": dict(backbone_kwargs)}
    if roi_size is not None:
        values["roi_size"] = [int(s) for s in roi_size]
        if task == "segmentation":
            values["axcodes"] = "RAS"[: len(roi_size)]
            values["pixdim"] = [1.0] * len(roi_size)
    optional = {
        "in_channels": in_channels,
        "num_classes": num_classes,
        "patch_size": patch_size,
        "dataset_dir": dataset_dir,
    }
    values.update({k: v for k, v in optional.items() if v is not None})
    return values


def _channel_def(num_classes: int, class_names: Sequence[str] | None) -> dict[str, str]:
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names given for {num_classes} classes.")
    names = class_names or [f"class {i}" for i in range(num_classes)]
    return {str(i): name for i, name in enumerate(names)}


def _update_metadata(
    metadata: dict[str, Any],
    values: Mapping[str, Any],
    class_names: Sequence[str] | None,
    backbone_meta: Mapping[str, Any] | None,
    modality: str | None,
) -> dict[str, Any]:
    import monai
    import numpy
    import torch

    metadata["monai_version"] = monai.__version__
    metadata["pytorch_version"] = torch.__version__.split("+")[0]
    metadata["numpy_version"] = numpy.__version__
    packages = {k: v for k, name in _PACKAGES.items() if (v := _installed(name)) is not None}
    metadata["required_packages_version"] = packages
    image = metadata["network_data_format"]["inputs"]["image"]
    pred = metadata["network_data_format"]["outputs"]["pred"]
    if "roi_size" in values:
        dims = len(values["roi_size"])
        image["spatial_shape"] = ["16*n"] * dims
        if pred["spatial_shape"]:
            pred["spatial_shape"] = ["16*n"] * dims
    if "in_channels" in values:
        image["num_channels"] = int(values["in_channels"])
        image["channel_def"] = {str(i): f"channel {i}" for i in range(image["num_channels"])}
    if modality is not None:
        image["modality"] = modality
    if "num_classes" in values or class_names is not None:
        count = int(values.get("num_classes", pred["num_channels"]))
        pred["num_channels"] = count
        pred["channel_def"] = _channel_def(count, class_names)
    metadata["description"] += f" Backbone: {values['backbone']}."
    if backbone_meta is not None:
        metadata["vitp_backbone"] = {
            k: backbone_meta.get(k) for k in ("model", "sha256", "corpus", "steps", "vitp_version")
        }
    return metadata


def _write_configs(configs_dir: Path, values: Mapping[str, Any], with_weights: bool) -> None:
    for path in sorted(configs_dir.glob("*.json")):
        if path.name == "metadata.json":
            continue
        config = json.loads(path.read_text(encoding="utf-8"))
        config.update(values)
        if path.name == _TRAIN_CONFIG and with_weights:
            config["pretrained"] = PRETRAINED_EXPR
        atomic_write_text(path, json.dumps(config, indent=4) + "\n")


def init_bundle(
    out: str | os.PathLike[str],
    *,
    task: Task = "segmentation",
    weights: str | os.PathLike[str] | None = None,
    backbone: str | None = None,
    backbone_kwargs: Mapping[str, Any] | None = None,
    roi_size: Sequence[int] | None = None,
    in_channels: int | None = None,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    patch_size: int | Sequence[int] | None = None,
    modality: str | None = None,
    dataset_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    verify_checksum: bool = True,
) -> Path:
    """Write a MONAI bundle (``configs/``, ``models/``, ``docs/``) for a ViTP backbone.

    Args:
        out: Bundle folder to create.
        task: ``"segmentation"`` (VitpUNETR, NIfTI volumes), ``"classification"``
            (VitpClassifier, MedMNIST ``.npz``), ``"segmentation2d"`` (VitpUNETR, image
            folders with masks and optional fields of view) or ``"classification2d"``
            (VitpClassifier, class folders or a labels file).
        weights: A ViTP export (``.safetensors`` with ``.json`` sidecar), copied to
            ``models/backbone.safetensors`` and loaded by ``train.json``'s network; its
            sidecar names the backbone and its arguments.
        backbone: timm/ViTP model name; default the export's, else the template's
            (``vitp_tiny_patch16_224``).
        backbone_kwargs: Extra ``timm.create_model`` arguments (override the sidecar's).
        roi_size: Training patch / input size (2 or 3 entries: 2D or 3D).
        in_channels: Input channels.
        num_classes: Output classes (background included for segmentation).
        class_names: One name per class, for ``metadata.json``.
        patch_size: ViT patch size (default the backbone's).
        modality: Input modality for ``metadata.json`` (``"MR"``, ``"CT"``, ``"XR"``...).
        dataset_dir: Default ``dataset_dir`` (else given on the command line).
        overwrite: Replace the files of an existing bundle folder.
        verify_checksum: Check the export against the SHA-256 of its sidecar (a sidecar
            without one is refused); ``False`` copies a file you trust as it is.

    Returns:
        The bundle folder.

    Raises:
        FileExistsError: When ``out`` is a non-empty folder and not ``overwrite``.
        BackboneChecksumError: When the export's SHA-256 differs from its sidecar, or
            the sidecar records none (unless ``verify_checksum`` is false).
        jsonschema.ValidationError: If the written metadata breaks the schema (a bug).
    """
    if task not in BUNDLE_TASKS:
        raise ValueError(f"task must be one of {BUNDLE_TASKS}, got {task!r}.")
    out = Path(out).expanduser()
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass --force to overwrite it.")
    shutil.copytree(TEMPLATES_DIR / task, out, dirs_exist_ok=True)
    (out / "models").mkdir(exist_ok=True)
    backbone_meta = (
        _copy_weights(Path(weights), out / "models", verify_checksum)
        if weights is not None
        else None
    )
    name = backbone or (backbone_meta or {}).get("model") or "vitp_tiny_patch16_224"
    kwargs: dict[str, Any] = {}
    if backbone_meta is not None and backbone_meta.get("model") == name:
        inherited = backbone_meta.get("model_kwargs", {})
        kwargs = {k: v for k, v in inherited.items() if k not in _NETWORK_OWNED_KWARGS}
    kwargs.update(backbone_kwargs or {})
    values = _config_values(
        task,
        backbone=name,
        backbone_kwargs=kwargs,
        roi_size=roi_size,
        in_channels=in_channels,
        num_classes=num_classes,
        patch_size=patch_size,
        dataset_dir=None if dataset_dir is None else os.fspath(dataset_dir),
    )
    if task == "classification2d" and class_names is not None:
        values["class_names"] = list(class_names)  # the class folders' index order
    _write_configs(out / "configs", values, with_weights=weights is not None)
    meta_path = out / "configs" / "metadata.json"
    metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    metadata = _update_metadata(metadata, values, class_names, backbone_meta, modality)
    jsonschema.validate(metadata, json.loads(METADATA_SCHEMA_PATH.read_text(encoding="utf-8")))
    atomic_write_json(meta_path, metadata)
    readme = out / "docs" / "README.md"
    text = string.Template(readme.read_text(encoding="utf-8")).substitute(
        backbone=name,
        weights=f"models/{WEIGHTS_NAME}" if weights is not None else "none (random initialisation)",
    )
    atomic_write_text(readme, text)
    return out
