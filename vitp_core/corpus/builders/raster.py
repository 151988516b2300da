"""Multispectral rasters (GeoTIFF, any band count) -> chips with their own questions.

Large scenes are cut into ``chip_size`` windows with rasterio; each chip is written as
a GeoTIFF that keeps the CRS, its own transform and the band names (as band
descriptions, so :func:`~vitp_core.corpus.images.load_image` can select bands by
name). Band names go to ``meta["bands"]`` and the ground sample distance to
``meta["gsd"]``.

Questions come from a label raster on the same grid (mask questions) and, when the
bands are named, from spectral indices (NDVI, NDWI). Vector labels go through
:mod:`vitp_core.corpus.builders.vector`, which reuses the chipping here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vitp_core.corpus.class_map import ClassMap
from vitp_core.corpus.phrasing import record_rng
from vitp_core.corpus.questions.segmentation import MaskLabels, mask_questions, summarize_mask
from vitp_core.corpus.questions.spectral import spectral_questions
from vitp_core.corpus.writer import BuildReport, CorpusWriter, OnBadRecord

__all__ = ["Chip", "build_raster_corpus", "iter_chips", "raster_band_names", "write_chip"]


@dataclass(frozen=True)
class Chip:
    """One window of a raster.

    Attributes:
        row: Top pixel row in the raster.
        col: Left pixel column in the raster.
        pixels: ``(C, H, W)`` values of the selected bands.
        valid: ``(H, W)`` True where every band has data.
        transform: Affine transform of the chip (rasterio ``Affine``).
    """

    row: int
    col: int
    pixels: np.ndarray
    valid: np.ndarray
    transform: Any


def raster_band_names(src: Any, band_names: Sequence[str] | None = None) -> list[str]:
    """Band names of an open raster: given ones, the descriptions, or ``band1``...

    Raises:
        ValueError: When ``band_names`` does not have one name per band.
    """
    if band_names is not None:
        if len(band_names) != src.count:
            raise ValueError(
                f"{src.name}: {src.count} bands but {len(band_names)} band names given."
            )
        return [str(b).lower() for b in band_names]
    return [(d or f"band{i + 1}").lower() for i, d in enumerate(src.descriptions)]


def _offsets(length: int, chip: int, stride: int) -> list[int]:
    if length <= chip:
        return [0]
    offsets = list(range(0, length - chip + 1, stride))
    if offsets[-1] != length - chip:
        offsets.append(length - chip)  # last chip flush with the edge
    return offsets


def iter_chips(
    src: Any, chip_size: int, stride: int | None = None, max_nodata: float = 0.5
) -> Iterator[Chip]:
    """Read an open rasterio dataset window by window on a regular grid.

    Args:
        src: Open ``rasterio`` dataset.
        chip_size: Chip side in pixels (smaller rasters give one smaller chip).
        stride: Step between chips in pixels (default: ``chip_size``, no overlap).
        max_nodata: Chips with a larger share of no-data pixels are not yielded.
    """
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    stride = stride or chip_size
    for row in _offsets(src.height, chip_size, stride):
        for col in _offsets(src.width, chip_size, stride):
            window = Window(col, row, min(chip_size, src.width), min(chip_size, src.height))
            pixels = src.read(window=window)
            valid = src.read_masks(window=window).min(axis=0) > 0
            if 1.0 - valid.mean() > max_nodata:
                continue
            yield Chip(row, col, pixels, valid, window_transform(window, src.transform))


def write_chip(src: Any, chip: Chip, band_names: Sequence[str], path: Path) -> Path:
    """Write a chip as a GeoTIFF with the source CRS, its transform and band descriptions."""
    import rasterio

    profile = {
        "driver": "GTiff",
        "width": chip.pixels.shape[2],
        "height": chip.pixels.shape[1],
        "count": chip.pixels.shape[0],
        "dtype": chip.pixels.dtype,
        "crs": src.crs,
        "transform": chip.transform,
        "nodata": src.nodata,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(chip.pixels)
        dst.descriptions = tuple(band_names)
    return path


def chip_meta(src: Any, chip: Chip, band_names: Sequence[str], source: Path) -> dict[str, Any]:
    """Metadata of a chip: bands, ground sample distance (CRS units), CRS and window."""
    return {
        "bands": list(band_names),
        "gsd": round(float(abs(src.transform.a)), 6),
        "crs": src.crs.to_string() if src.crs else None,
        "raster": source.name,
        "window": [chip.col, chip.row, chip.pixels.shape[2], chip.pixels.shape[1]],
    }


def build_raster_corpus(
    rasters: Sequence[str | Path],
    out_dir: str | Path,
    *,
    name: str = "raster",
    seed: int = 0,
    chip_size: int = 256,
    stride: int | None = None,
    band_names: Sequence[str] | None = None,
    label_rasters: Sequence[str | Path] | None = None,
    class_map: ClassMap | None = None,
    n_questions: int = 3,
    max_nodata: float = 0.5,
    on_bad_record: OnBadRecord = "skip",
    data_roots: Sequence[str | Path] = (),
) -> BuildReport:
    """Cut rasters into GeoTIFF chips and ask questions about each chip.

    Args:
        rasters: GeoTIFF files of any band count.
        out_dir: Corpus folder; chips go to ``out_dir/chips``.
        name: Corpus name.
        seed: Seed of the question choice.
        chip_size: Chip side in pixels.
        stride: Step between chips (default: ``chip_size``).
        band_names: Names of the bands (default: the band descriptions of each file).
        label_rasters: Optional label GeoTIFF per raster, on the same pixel grid.
        class_map: Meaning of the label values (needed with ``label_rasters``).
        n_questions: Question/answer turns per record.
        max_nodata: Chips with more no-data than this share are dropped.
        on_bad_record: ``"skip"`` or ``"raise"``.
        data_roots: Source folders the output must not be written into.
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    if label_rasters is not None and (class_map is None or len(label_rasters) != len(rasters)):
        raise ValueError("label_rasters needs a class_map and one label raster per raster.")
    settings = _ChipSettings(
        MaskLabels(class_map.names, class_map.ignore) if class_map else None,
        seed,
        chip_size,
        stride,
        n_questions,
        max_nodata,
    )
    with CorpusWriter(out_dir, name=name, on_bad_record=on_bad_record, data_roots=data_roots) as w:
        for number, raster in enumerate(map(Path, rasters)):
            label_path = Path(label_rasters[number]) if label_rasters is not None else None
            with ExitStack() as files:
                try:
                    src = files.enter_context(rasterio.open(raster))
                    label_src = (
                        files.enter_context(rasterio.open(label_path)) if label_path else None
                    )
                except RasterioIOError as err:
                    w.skip(raster, f"rasterio cannot read it or its label raster ({err}).")
                    continue
                _add_raster_chips(w, src, raster_band_names(src, band_names), label_src, settings)
    return w.report


@dataclass(frozen=True)
class _ChipSettings:
    labels: MaskLabels | None
    seed: int
    chip_size: int
    stride: int | None
    n_questions: int
    max_nodata: float


def _label_mask(label_src: Any, chip: Chip, labels: MaskLabels) -> np.ndarray | str:
    """The label window of a chip, or why it cannot be used."""
    height, width = chip.pixels.shape[1:]
    window = ((chip.row, chip.row + height), (chip.col, chip.col + width))
    mask = label_src.read(1, window=window).astype(np.int32)
    unknown = sorted(set(np.unique(mask).tolist()) - set(labels.names) - set(labels.ignore))
    if unknown:
        where = f"the window at row {chip.row}, column {chip.col}"
        return f"label values {unknown} in {where} are not in the class map."
    return mask


def _add_raster_chips(
    w: CorpusWriter, src: Any, names: list[str], label_src: Any, cfg: _ChipSettings
) -> None:
    """Add one record per chip of an open raster (and its open label raster, if any)."""
    raster = Path(src.name)
    if label_src is not None and (label_src.width, label_src.height) != (src.width, src.height):
        sizes = f"{label_src.width}x{label_src.height} vs {src.width}x{src.height}"
        w.skip(label_src.name, f"label raster and raster differ in size ({sizes}).")
        return
    for chip in iter_chips(src, cfg.chip_size, cfg.stride, cfg.max_nodata):
        bad = np.count_nonzero(~np.isfinite(chip.pixels)) if chip.pixels.dtype.kind == "f" else 0
        if bad:
            w.skip(
                raster,
                f"the chip at row {chip.row}, column {chip.col} has {bad} non-finite pixel "
                "value(s) (NaN/Inf, also as no-data); it was not written: fill them first.",
            )
            continue
        record_id = f"{w.name}-{raster.stem}-r{chip.row:05d}-c{chip.col:05d}"
        rng = record_rng(cfg.seed, record_id)
        qa = []
        if label_src is not None and cfg.labels is not None:
            mask = _label_mask(label_src, chip, cfg.labels)
            if isinstance(mask, str):
                w.skip(label_src.name, mask)
                continue
            qa += mask_questions(summarize_mask(mask, cfg.labels), cfg.labels, rng, cfg.n_questions)
        qa += spectral_questions(chip.pixels, names, rng, max(1, cfg.n_questions - len(qa)))
        path = write_chip(src, chip, names, w.image_path(f"chips/{record_id}.tif"))
        meta = {"task": "raster_chip", **chip_meta(src, chip, names, raster)}
        w.add(record_id, [path], qa[: cfg.n_questions], meta)
