"""Vector annotations over a raster -> chips with mask and box questions.

Polygons or points with a class column (GeoJSON, GeoPackage, shapefile: anything
geopandas reads) are reprojected to the raster's CRS, clipped to each chip, burnt into
a class mask with ``rasterio.features.rasterize`` (later classes on top of earlier
ones) and, for *object* classes, turned into pixel boxes (one per feature). Points are
buffered by ``point_radius_px`` pixels first.

Mask questions then cover the non-object classes (shares, regions) and box questions
the objects (counts, grounding), so a count of buildings always equals the number of
building features in the chip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vitp_core.corpus.builders.raster import (
    Chip,
    chip_meta,
    iter_chips,
    raster_band_names,
    write_chip,
)
from vitp_core.corpus.phrasing import record_rng
from vitp_core.corpus.questions.detection import ObjectBoxes, detection_questions
from vitp_core.corpus.questions.segmentation import MaskLabels, mask_questions, summarize_mask
from vitp_core.corpus.writer import BuildReport, CorpusWriter, OnBadRecord

__all__ = ["VectorLabels", "build_vector_corpus", "read_vector_labels"]


@dataclass(frozen=True)
class VectorLabels:
    """Vector features ready to burn: a GeoDataFrame in the raster CRS and the classes.

    Attributes:
        frame: GeoDataFrame with ``geometry`` and an integer ``class_index`` column.
        classes: Class index -> name; index 0 is the background name.
        objects: Indices of object classes (boxed and counted one by one).
    """

    frame: Any
    classes: dict[int, str]
    objects: frozenset[int]


def read_vector_labels(
    path: str | Path,
    crs: Any,
    class_column: str,
    classes: Sequence[str] | None = None,
    object_classes: Sequence[str] = (),
    background: str = "background",
    point_radius: float = 1.0,
    skip: Any = None,
) -> VectorLabels:
    """Read a vector file and prepare it for one raster.

    Args:
        path: GeoJSON / GeoPackage / shapefile.
        crs: The raster's CRS; features are reprojected to it.
        class_column: Column holding the class name of each feature.
        classes: Class names in burn order (later on top); default: sorted names found.
        object_classes: Classes whose features are objects (boxes, counts).
        background: Name of pixels with no feature (index 0).
        point_radius: Buffer of point features, in CRS units.
        skip: ``callable(where, reason)`` reporting features of unknown classes.

    Raises:
        ValueError: When the file has no CRS or lacks the class column.
    """
    import geopandas as gpd

    path = Path(path)
    frame = gpd.read_file(path)
    if class_column not in frame.columns:
        raise ValueError(f"{path}: no column {class_column!r}; columns are {list(frame.columns)}.")
    if frame.crs is None:
        raise ValueError(f"{path}: the vector file has no CRS; set one (e.g. with ogr2ogr -a_srs).")
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty].to_crs(crs)
    frame["geometry"] = frame.geometry.make_valid()  # self-touching rings would break clipping
    names = frame[class_column].astype(str).str.lower()
    order = [c.lower() for c in classes] if classes else sorted(set(names))
    unknown = sorted(set(names) - set(order))
    if unknown and skip is not None:
        count = int(names.isin(unknown).sum())
        skip(
            path,
            f"{count} feature(s) of classes {unknown} not in the class list {order}; left out.",
        )
    frame = frame[names.isin(order)].copy()
    frame["class_index"] = names[names.isin(order)].map({n: i + 1 for i, n in enumerate(order)})
    points = frame.geometry.geom_type.isin(["Point", "MultiPoint"])
    frame.loc[points, "geometry"] = frame.geometry[points].buffer(point_radius)
    wanted = {c.lower() for c in object_classes}
    objects = frozenset(i + 1 for i, n in enumerate(order) if n in wanted)
    return VectorLabels(
        frame.sort_values("class_index", kind="stable"),
        {0: background, **dict(enumerate(order, 1))},
        objects,
    )


def _apply(transform: Any, x: float, y: float) -> tuple[float, float]:
    """Map ``(x, y)`` through an affine transform (version-independent ``transform @ (x, y)``)."""
    a, b, c, d, e, f = tuple(transform)[:6]
    return a * x + b * y + c, d * x + e * y + f


def _chip_labels(
    vectors: VectorLabels, chip: Chip
) -> tuple[np.ndarray, list[list[float]], list[str]]:
    """Burn the features of one chip: the class mask and the object boxes in pixels."""
    from rasterio.features import rasterize
    from shapely.geometry import box

    height, width = chip.pixels.shape[1:]
    x1, y1 = _apply(chip.transform, 0, 0)
    x2, y2 = _apply(chip.transform, width, height)
    extent = box(min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    inside = vectors.frame[vectors.frame.intersects(extent)]
    clipped = inside.geometry.intersection(extent)
    shapes = [
        (g, int(c)) for g, c in zip(clipped, inside["class_index"], strict=True) if not g.is_empty
    ]
    mask = (
        rasterize(
            shapes, out_shape=(height, width), transform=chip.transform, fill=0, dtype="int32"
        )
        if shapes
        else np.zeros((height, width), dtype=np.int32)
    )
    inverse = ~chip.transform
    boxes, labels = [], []
    for geometry, index in shapes:
        if index not in vectors.objects:
            continue
        gx1, gy1, gx2, gy2 = geometry.bounds
        cols, rows = zip(_apply(inverse, gx1, gy1), _apply(inverse, gx2, gy2), strict=True)
        bx = [
            max(0.0, min(cols)),
            max(0.0, min(rows)),
            min(float(width), max(cols)),
            min(float(height), max(rows)),
        ]
        if (bx[2] - bx[0]) * (bx[3] - bx[1]) >= 1.0:
            boxes.append(bx)
            labels.append(vectors.classes[index])
    return mask, boxes, labels


def build_vector_corpus(
    raster: str | Path,
    vectors: str | Path,
    out_dir: str | Path,
    *,
    class_column: str = "class",
    classes: Sequence[str] | None = None,
    object_classes: Sequence[str] = (),
    background: str = "background",
    name: str = "vector",
    seed: int = 0,
    chip_size: int = 256,
    stride: int | None = None,
    band_names: Sequence[str] | None = None,
    chip_bands: Sequence[str] | None = None,
    point_radius_px: float = 4.0,
    n_questions: int = 3,
    noun: str = "land-cover classes",
    meta: dict[str, Any] | None = None,
    on_bad_record: OnBadRecord = "skip",
    data_roots: Sequence[str | Path] = (),
) -> BuildReport:
    """Chip a raster and ask mask and box questions from vector labels.

    Args:
        raster: GeoTIFF of any band count.
        vectors: Vector file with a class column.
        out_dir: Corpus folder; chips go to ``out_dir/chips``.
        class_column: Column with each feature's class name.
        classes: Class names in burn order (later on top); default: names found, sorted.
        object_classes: Classes counted and boxed per feature (buildings, trees...).
        background: Name of unlabelled pixels; ``"background"`` is never asked about.
        name: Corpus name.
        seed: Seed of the question choice.
        chip_size: Chip side in pixels.
        stride: Step between chips (default: ``chip_size``).
        band_names: Names of the raster's bands (default: its band descriptions).
        chip_bands: Bands written to the chips, by name (default: all).
        point_radius_px: Buffer radius of point features, in pixels.
        n_questions: Question/answer turns per record.
        noun: Plural noun for the classes in questions.
        meta: Extra metadata for every record.
        on_bad_record: ``"skip"`` or ``"raise"``.
        data_roots: Source folders the output must not be written into.
    """
    import rasterio

    raster, vectors = Path(raster), Path(vectors)
    with (
        CorpusWriter(out_dir, name=name, on_bad_record=on_bad_record, data_roots=data_roots) as w,
        rasterio.open(raster) as src,
    ):
        names = raster_band_names(src, band_names)
        keep = (
            [names.index(b.lower()) for b in chip_bands] if chip_bands else list(range(len(names)))
        )
        kept_names = [names[i] for i in keep]
        labels = read_vector_labels(
            vectors,
            src.crs,
            class_column,
            classes,
            object_classes,
            background,
            point_radius_px * abs(src.transform.a),
            w.skip,
        )
        ignore = frozenset({0}) if background.lower() == "background" else frozenset()
        countable = frozenset(k for k in labels.classes if k not in labels.objects)
        mask_labels = MaskLabels(labels.classes, ignore, countable, noun)
        all_objects = [labels.classes[i] for i in sorted(labels.objects)]
        for chip in iter_chips(src, chip_size, stride):
            mask, boxes, box_labels = _chip_labels(labels, chip)
            chip = Chip(chip.row, chip.col, chip.pixels[keep], chip.valid, chip.transform)
            record_id = f"{name}-{raster.stem}-r{chip.row:05d}-c{chip.col:05d}"
            rng = record_rng(seed, record_id)
            n_box = (n_questions + 1) // 2 if all_objects else 0
            objects = ObjectBoxes(boxes, box_labels, mask.shape[1], mask.shape[0], all_objects)
            qa = detection_questions(objects, rng, n_box) if n_box else []
            qa += mask_questions(
                summarize_mask(mask, mask_labels), mask_labels, rng, n_questions - len(qa)
            )
            if not qa:
                continue
            path = write_chip(src, chip, kept_names, w.image_path(f"chips/{record_id}.tif"))
            task_meta = {
                "task": "raster_vector",
                "objects": {c: box_labels.count(c) for c in sorted(set(box_labels))},
            }
            record_meta = {**task_meta, **chip_meta(src, chip, kept_names, raster), **(meta or {})}
            w.add(record_id, [path], qa, record_meta)
    return w.report
