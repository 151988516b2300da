"""Labelled 3D scans (NIfTI) -> 2D slice records and whole-volume multi-image records.

Sources:
    * ``images/`` + ``labels/`` folders of NIfTI files with matching names
      (:func:`find_volume_pairs`), e.g. the Decathlon hippocampus crops;
    * a MONAI / Decathlon datalist JSON (``dataset.json`` with ``training``, ``labels``
      and ``modality``): :func:`items_from_datalist`.

Volumes are reoriented to RAS+ with nibabel; slices are shown in the radiological
convention (patient's right on the image's left; anterior or superior at the top)
and written as 8-bit PNG (grey values, as RGB by default), resampled to square pixels.
CT intensities go through a window (level/width in HU); other modalities are stretched
between percentiles.

Bad scans are skipped (or raised) as bad inputs, named by file: a header that declares
more voxels than ``max_voxels`` (checked before any voxel is read), NaN/Inf voxels, and
4D series unless ``volume_index`` names the volume to use (never silently the first).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vitp_core.corpus.class_map import ClassMap
from vitp_core.corpus.phrasing import record_rng
from vitp_core.corpus.questions.segmentation import MaskLabels, mask_questions, summarize_mask
from vitp_core.corpus.questions.volume import (
    PLANE_OF_AXIS,
    plane_question,
    slice_extent_question,
    volume_extents,
    volume_questions,
)
from vitp_core.corpus.records import RecordSource
from vitp_core.corpus.writer import BuildReport, CorpusWriter, OnBadRecord

__all__ = [
    "CT_WINDOWS",
    "DEFAULT_MAX_VOLUME_VOXELS",
    "VolumeItem",
    "build_volume_corpus",
    "find_volume_pairs",
    "items_from_datalist",
    "window_intensity",
]

#: Common CT windows as (level, width) in Hounsfield units.
CT_WINDOWS = {"soft_tissue": (40.0, 400.0), "lung": (-600.0, 1500.0), "bone": (400.0, 1800.0)}
_NIFTI = (".nii", ".nii.gz")
#: Largest scan read by default, in voxels per volume (512 x 512 x 2048: a whole-body CT
#: fits; about 6 GiB of working memory at 12 bytes per voxel).
DEFAULT_MAX_VOLUME_VOXELS = 512 * 512 * 2048


@dataclass(frozen=True)
class VolumeItem:
    """A scan and its label map (``None`` when missing)."""

    image: Path
    label: Path | None
    source: RecordSource


def _stem(path: Path) -> str:
    return path.name[: -len(".nii.gz")] if path.name.endswith(".nii.gz") else path.stem


def find_volume_pairs(
    root: str | Path, images: str = "images", labels: str = "labels"
) -> list[VolumeItem]:
    """Pair ``root/images/*.nii[.gz]`` with same-name files in ``root/labels``.

    Raises:
        FileNotFoundError: When ``root/images`` is missing.
    """
    root = Path(root)
    if not (root / images).is_dir():
        raise FileNotFoundError(f"{root}: no '{images}' folder of NIfTI scans.")
    found = {_stem(p): p for p in (root / labels).glob("*")} if (root / labels).is_dir() else {}
    return [
        VolumeItem(p, found.get(_stem(p)), RecordSource(str(p), 0))
        for p in sorted((root / images).iterdir())
        if p.name.endswith(_NIFTI)
    ]


def items_from_datalist(
    path: str | Path, key: str = "training"
) -> tuple[list[VolumeItem], ClassMap, str]:
    """Read a Decathlon / MONAI datalist with MONAI's own loader.

    Args:
        path: ``dataset.json`` with ``key`` (a list of ``{"image", "label"}``), ``labels``
            and ``modality``.
        key: The list to read; never pass the test list into a pretraining corpus.

    Returns:
        The items, the class map from ``labels`` and the first modality (e.g. ``"CT"``).
    """
    from monai.data import load_decathlon_datalist, load_decathlon_properties

    path = Path(path)
    entries = load_decathlon_datalist(str(path), is_segmentation=True, data_list_key=key)
    props = load_decathlon_properties(str(path), ["labels", "modality"])
    names = {int(k): str(v).lower() for k, v in props.get("labels", {}).items()}
    modality = str(next(iter(props.get("modality", {}).values()), "MRI"))
    items = [
        VolumeItem(
            Path(e["image"]),
            Path(e["label"]) if e.get("label") else None,
            RecordSource(str(path), 0),
        )
        for e in entries
    ]
    return items, ClassMap.from_names(names), modality


def window_intensity(
    volume: np.ndarray, modality: str, window: tuple[float, float] | None = None
) -> np.ndarray:
    """Scale intensities to 0-1: a CT window (level, width), or the 0.5-99.5 percentiles."""
    if modality.upper() == "CT":
        level, width = window or CT_WINDOWS["soft_tissue"]
        low, high = level - width / 2, level + width / 2
    else:
        low, high = np.percentile(volume, [0.5, 99.5])
    return np.clip((volume.astype(np.float32) - low) / max(float(high - low), 1e-6), 0, 1)


def _oriented(volume: np.ndarray, axis: int, index: int) -> np.ndarray:
    """A RAS+ slice in display orientation (radiological, superior/anterior at the top)."""
    plane = np.take(volume, index, axis=axis)
    return np.flip(plane.T, (0, 1))


def _in_plane_mm(spacing: tuple[float, float, float], axis: int) -> tuple[float, float]:
    kept = [s for a, s in enumerate(spacing) if a != axis]
    return kept[0], kept[1]


def _save_slice(
    image: np.ndarray, pixel_mm: tuple[float, float], path: Path, min_side: int, channels: int
) -> Path:
    height, width = image.shape
    scale_x, scale_y = pixel_mm[0], pixel_mm[1]
    base = min(scale_x, scale_y)
    size = np.array([width * scale_x / base, height * scale_y / base])
    size = np.maximum(1, np.round(size * max(1.0, min_side / size.min()))).astype(int)
    picture = Image.fromarray((image * 255 + 0.5).astype(np.uint8))
    picture = picture.resize((int(size[0]), int(size[1])), Image.BILINEAR)
    (picture.convert("RGB") if channels == 3 else picture).save(path)
    return path


def _pick_slices(label: np.ndarray, axis: int, count: int, rng: random.Random) -> list[int]:
    """The slice with the most labelled voxels, plus random other labelled slices."""
    other_axes = tuple(a for a in range(3) if a != axis)
    area = (label > 0).sum(axis=other_axes)
    labelled = [int(i) for i in np.nonzero(area)[0]]
    if not labelled:
        return [label.shape[axis] // 2]
    best = int(np.argmax(area))
    rest = [i for i in labelled if i != best]
    return [best, *sorted(rng.sample(rest, min(count - 1, len(rest))))]


@dataclass(frozen=True)
class _VolumeSettings:
    labels: MaskLabels
    modality: str
    window: tuple[float, float] | None
    planes: tuple[int, ...]
    slices_per_plane: int
    whole_volume: bool
    midline: bool
    min_side: int
    channels: int
    n_questions: int
    seed: int
    meta: dict[str, Any]
    volume_index: int | None = None
    max_voxels: int = DEFAULT_MAX_VOLUME_VOXELS


def _shape_problem(
    shape: tuple[int, ...], what: str, volume_index: int | None, max_voxels: int
) -> str | None:
    """Why a scan of this declared ``shape`` cannot be used, or ``None``."""
    spatial = tuple(int(n) for n in shape[:3])
    voxels = int(np.prod(spatial, dtype=np.int64))
    if voxels > max_voxels:
        return (
            f"{what} declares {'x'.join(map(str, spatial))} voxels ({voxels / 1e6:g} million), "
            f"above the limit of {max_voxels / 1e6:g} million; it was not read: raise "
            "max_voxels (--max-voxels) if the scan is genuine."
        )
    extra = [int(n) for n in shape[3:]]
    if len(shape) < 3 or len(extra) > 1:
        return f"{what} has shape {tuple(shape)}; only 3D scans and 4D series are supported."
    if extra and extra[0] > 1 and volume_index is None:
        return (
            f"4D scan of shape {tuple(shape)} ({extra[0]} volumes): pass volume_index "
            f"(--volume-index 0..{extra[0] - 1}) to choose the volume to use."
        )
    if extra and volume_index is not None and not 0 <= volume_index < extra[0]:
        return (
            f"volume_index {volume_index} is out of range for a 4D scan of shape "
            f"{tuple(shape)} (0..{extra[0] - 1})."
        )
    return None


def _finite_problem(array: np.ndarray, what: str) -> str | None:
    if array.dtype.kind not in "fc":
        return None
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if not bad:
        return None
    return (
        f"{bad} non-finite voxel value(s) (NaN/Inf) in the {what}: replace or mask them "
        "before building; the scan was not used."
    )


def _load(
    item: VolumeItem, class_map: ClassMap, volume_index: int | None = None, max_voxels: int = 0
) -> tuple[np.ndarray, np.ndarray, tuple] | str:
    """RAS+ image, label and spacing, or the reason they cannot be used."""
    import nibabel as nib

    if item.label is None:
        return "no label map with the same name."
    max_voxels = max_voxels or DEFAULT_MAX_VOLUME_VOXELS
    try:
        image, label = nib.load(item.image), nib.load(item.label)  # headers only
        problem = _shape_problem(image.shape, "scan", volume_index, max_voxels) or (
            _shape_problem(label.shape[:3], "label map", None, max_voxels)
        )
        if problem:
            return problem
        if image.ndim == 4:
            image = image.slicer[..., volume_index or 0]
        image = nib.as_closest_canonical(image)
        label = nib.as_closest_canonical(label)
        data = np.asarray(image.dataobj, dtype=np.float32)
        label_data = np.asarray(label.dataobj)
    except (OSError, ValueError, EOFError, nib.filebasedimages.ImageFileError) as err:
        return f"unreadable NIfTI ({err})."
    problem = _finite_problem(data, "scan") or _finite_problem(label_data, "label map")
    if problem:
        return problem
    labels = label_data.reshape(label_data.shape[:3]).astype(np.int32)
    if data.shape != labels.shape:
        return f"image shape {data.shape} differs from label shape {labels.shape}."
    unknown = sorted(set(np.unique(labels).tolist()) - set(class_map.names) - set(class_map.ignore))
    if unknown:
        return f"label values {unknown} are not in the class map {class_map.source}."
    return data, labels, tuple(float(z) for z in image.header.get_zooms()[:3])


def _add_volume(
    w: CorpusWriter, item: VolumeItem, stem: str, loaded: tuple, cfg: _VolumeSettings
) -> None:
    data, labels, spacing = loaded
    scaled = window_intensity(data, cfg.modality, cfg.window)
    rng = record_rng(cfg.seed, stem)
    meta = {
        "modality": cfg.modality,
        "volume": item.image.name,
        **({"volume_index": cfg.volume_index} if cfg.volume_index is not None else {}),
        "bands": ["red", "green", "blue"] if cfg.channels == 3 else ["gray"],
        "spacing_mm": list(spacing),
        **cfg.meta,
    }
    for axis in cfg.planes:
        plane = PLANE_OF_AXIS[axis]
        for index in _pick_slices(labels, axis, cfg.slices_per_plane, rng):
            mask = _oriented(labels, axis, index)
            pixel_mm = _in_plane_mm(spacing, axis)
            path = _save_slice(
                _oriented(scaled, axis, index),
                pixel_mm,
                w.image_path(f"slices/{stem}_{plane}_{index:03d}.png"),
                cfg.min_side,
                cfg.channels,
            )
            record_id = f"{w.name}-{stem}-{plane}-{index:03d}"
            qrng = record_rng(cfg.seed, record_id)
            summary = summarize_mask(mask, cfg.labels)
            extra = [
                plane_question(plane, qrng),
                slice_extent_question(summary, cfg.labels, pixel_mm, qrng),
            ]
            qa = [p for p in extra if p] + mask_questions(
                summary, cfg.labels, qrng, cfg.n_questions
            )
            qrng.shuffle(qa)
            present = [cfg.labels.names[k] for k in summary.present]
            w.add(
                record_id,
                [path],
                qa[: cfg.n_questions],
                {
                    "task": "volume_slice",
                    "plane": plane,
                    "slice": index,
                    "classes": present,
                    **meta,
                },
            )
    if cfg.whole_volume:
        _add_whole_volume(w, stem, scaled, labels, spacing, cfg, meta)


def _add_whole_volume(
    w: CorpusWriter,
    stem: str,
    scaled: np.ndarray,
    labels: np.ndarray,
    spacing: tuple,
    cfg: _VolumeSettings,
    meta: dict,
) -> None:
    where = np.nonzero(labels > 0)
    centre = [
        int(np.median(a)) if len(a) else s // 2 for a, s in zip(where, labels.shape, strict=True)
    ]
    paths = []
    for axis in (2, 1, 0):
        plane = PLANE_OF_AXIS[axis]
        paths.append(
            _save_slice(
                _oriented(scaled, axis, centre[axis]),
                _in_plane_mm(spacing, axis),
                w.image_path(f"slices/{stem}_{plane}_{centre[axis]:03d}.png"),
                cfg.min_side,
                cfg.channels,
            )
        )
    record_id = f"{w.name}-{stem}-volume"
    extents = volume_extents(labels, spacing, cfg.labels, cfg.midline)
    qa = volume_questions(extents, cfg.labels, record_rng(cfg.seed, record_id), cfg.n_questions)
    if qa:
        w.add(
            record_id, paths, qa, {"task": "volume", "classes": [e.name for e in extents], **meta}
        )


def build_volume_corpus(
    items: Sequence[VolumeItem],
    out_dir: str | Path,
    class_map: ClassMap,
    *,
    name: str = "volumes",
    seed: int = 0,
    modality: str = "MRI",
    window: tuple[float, float] | None = None,
    planes: Sequence[str] = ("axial", "coronal", "sagittal"),
    slices_per_plane: int = 1,
    whole_volume: bool = True,
    midline: bool = False,
    min_side: int = 128,
    channels: int = 3,
    n_questions: int = 3,
    noun: str = "structures",
    meta: dict[str, Any] | None = None,
    on_bad_record: OnBadRecord = "skip",
    data_roots: Sequence[str | Path] = (),
    volume_index: int | None = None,
    max_voxels: int | None = None,
) -> BuildReport:
    """Write slice and whole-volume records for labelled NIfTI scans.

    Scans with NaN/Inf voxels, 4D series without ``volume_index`` and scans that declare
    more than ``max_voxels`` voxels are bad inputs: skipped (counted in the report) or
    raised, following ``on_bad_record``.

    Args:
        items: Scans with label maps.
        out_dir: Corpus folder; slices go to ``out_dir/slices``.
        class_map: Meaning of the label values.
        name: Corpus name.
        seed: Seed of the slice and question choice.
        modality: ``"CT"`` (windowed) or anything else (percentile-stretched).
        window: CT ``(level, width)`` in HU (default: soft tissue, 40/400).
        planes: Planes to slice: ``axial``, ``coronal``, ``sagittal``.
        slices_per_plane: Slices per plane and volume (the most labelled one first).
        whole_volume: Also add a 3-slice record with whole-volume questions.
        midline: The scans are centred on the body midline (whole-body field of view),
            so whole-volume records also ask on which side of the patient each structure
            lies. Leave off for crops (such as the Decathlon hippocampus).
        min_side: Slices are upsampled so their shorter side has this many pixels.
        channels: 3 writes the grey slice as an RGB PNG with equal channels (what RGB
            ViTs such as InternViT take), 1 as a grey PNG.
        n_questions: Question/answer turns per record.
        noun: Plural noun for the labelled classes ("structures", "organs").
        meta: Extra metadata for every record.
        on_bad_record: ``"skip"`` or ``"raise"``.
        data_roots: Source folders the output must not be written into.
        volume_index: For 4D series (e.g. diffusion or fMRI): the 0-based volume to use,
            recorded in ``meta["volume_index"]``. 4D scans are refused without it.
        max_voxels: Largest scan, in voxels per volume, checked from the header before
            reading (default :data:`DEFAULT_MAX_VOLUME_VOXELS`).
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}.")
    axis_of = {v: k for k, v in PLANE_OF_AXIS.items()}
    unknown = [p for p in planes if p not in axis_of]
    if unknown:
        raise ValueError(f"unknown planes {unknown}; use axial, coronal or sagittal.")
    cfg = _VolumeSettings(
        MaskLabels(class_map.names, class_map.ignore, None, noun),
        modality,
        window,
        tuple(axis_of[p] for p in planes),
        slices_per_plane,
        whole_volume,
        midline,
        min_side,
        channels,
        n_questions,
        seed,
        dict(meta or {}),
        volume_index,
        max_voxels or DEFAULT_MAX_VOLUME_VOXELS,
    )
    with CorpusWriter(out_dir, name=name, on_bad_record=on_bad_record, data_roots=data_roots) as w:
        for item in items:
            loaded = _load(item, class_map, cfg.volume_index, cfg.max_voxels)
            if isinstance(loaded, str):
                w.skip(
                    item.source if item.source.path != str(item.image) else item.image,
                    f"{item.image.name}: {loaded}",
                )
                continue
            _add_volume(w, item, _stem(item.image), loaded, cfg)
    return w.report
