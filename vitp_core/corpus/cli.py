r"""``vitp corpus``: build, inspect and validate instruction corpora.

Examples::

    vitp corpus build classification rs/rsscn7/labels.jsonl --out runs/corpora/rsscn7
    vitp corpus build segmentation rs/dubai --class-map examples/corpora/dubai_classes.json \\
        --out runs/corpora/dubai
    vitp corpus inspect runs/corpora/rsscn7/corpus.jsonl --sheet rsscn7.png
    vitp corpus validate examples/corpora/rs_mix.json

Relative ``SOURCE`` paths that do not exist are looked up under the data root
(``--data-root`` or ``$VITP_DATA``). The output folder may never lie inside the data.
Images larger than ``--max-image-pixels`` (checked from their headers) and images with
NaN/Inf values are bad records in every action.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from vitp_core.corpus.images import (
    DEFAULT_MAX_IMAGE_PIXELS,
    MAX_IMAGE_PIXELS_ENV,
    image_pixel_limit,
)
from vitp_core.corpus.records import BadRecordError
from vitp_core.corpus.writer import BuildReport

__all__ = ["register"]

BuildFn = Callable[[argparse.Namespace, Path], BuildReport]

_N_QUESTIONS = "question/answer turns per record"
_NOUN = "plural noun for the classes in questions"
_CHANNELS = "1 writes grey PNGs, 3 RGB PNGs with equal channels"
_CHIP_SIZE = "chip side in pixels"
_STRIDE = "step between chips in pixels (default: the chip size, no overlap)"
_SEED = "seed of the sampling and of the question phrasings"
_ON_BAD_RECORD = "skip (count and report) or raise (stop at the first) on a bad input"
_MAX_PIXELS = (
    f"largest image in pixels (width x height), checked from its header before decoding "
    f"(default: ${MAX_IMAGE_PIXELS_ENV}, else {DEFAULT_MAX_IMAGE_PIXELS})"
)


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _source(args: argparse.Namespace, value: str | None = None) -> Path:
    """Resolve SOURCE, falling back to the data root for relative paths."""
    path = Path(value if value is not None else args.source)
    root = args.data_root or os.environ.get("VITP_DATA")
    if not path.exists() and not path.is_absolute() and root:
        path = Path(root) / path
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: not found (set --data-root or VITP_DATA for relative paths)."
        )
    return path


def _roots(args: argparse.Namespace, source: Path) -> list[Path]:
    root = args.data_root or os.environ.get("VITP_DATA")
    return [source if source.is_dir() else source.parent, *([Path(root)] if root else [])]


def _default_name(source: Path) -> str:
    """``rsscn7/labels.jsonl`` -> ``rsscn7``; ``levir_cd_samples/`` -> ``levir_cd_samples``."""
    return source.parent.name if source.is_file() else source.name


def _common(args: argparse.Namespace, source: Path, default_name: str) -> dict:
    return {
        "name": args.name or default_name,
        "on_bad_record": args.on_bad_record,
        "data_roots": _roots(args, source),
    }


# --- one builder per kind: arguments and call --------------------------------------------


def _args_classification(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="folder with one sub-folder per class, or a JSONL/CSV label file")
    p.add_argument(
        "--image-root", help="folder of the label file's image paths (default: its folder)"
    )
    p.add_argument(
        "--phrasebook",
        choices=["scene", "diagnosis"],
        default="scene",
        help="wording of the questions: land-use scenes or medical findings",
    )
    p.add_argument("--exclude-splits", default="test", help="comma-separated splits left out")
    p.add_argument("--n-questions", type=int, default=2, help=_N_QUESTIONS)


def _run_classification(args: argparse.Namespace, source: Path) -> BuildReport:
    from vitp_core.corpus.builders import classification as b

    if source.is_dir():
        items, problems = b.images_from_class_folders(source), []
    else:
        items, problems = b.images_from_label_file(source, args.image_root)
    return b.build_classification_corpus(
        items,
        args.out,
        seed=args.seed,
        phrasebook=args.phrasebook,
        n_questions=args.n_questions,
        exclude_splits=_csv(args.exclude_splits) or (),
        problems=problems,
        **_common(args, source, _default_name(source)),
    )


def _args_segmentation(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="folder holding images/ + masks/ folders (possibly nested)")
    p.add_argument("--class-map", required=True, help="class map JSON (colours or indices)")
    p.add_argument("--images", default="images", help="name of the image folders")
    p.add_argument("--masks", default="masks", help="name of the mask folders")
    p.add_argument(
        "--countable",
        help="comma-separated classes counted/grounded per region (default: all classes)",
    )
    p.add_argument("--noun", default="land-cover classes", help=_NOUN)
    p.add_argument("--n-questions", type=int, default=3, help=_N_QUESTIONS)


def _run_segmentation(args: argparse.Namespace, source: Path) -> BuildReport:
    from vitp_core.corpus.builders.segmentation import (
        build_segmentation_corpus,
        find_image_mask_pairs,
    )
    from vitp_core.corpus.class_map import load_class_map

    return build_segmentation_corpus(
        find_image_mask_pairs(source, args.images, args.masks),
        args.out,
        load_class_map(args.class_map),
        seed=args.seed,
        n_questions=args.n_questions,
        noun=args.noun,
        countable=_csv(args.countable),
        **_common(args, source, source.name),
    )


def _args_detection(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="COCO-style detection JSON")
    p.add_argument("--image-root", help="folder of the images (default: the JSON's folder)")
    p.add_argument("--n-questions", type=int, default=3, help=_N_QUESTIONS)


def _run_detection(args: argparse.Namespace, source: Path) -> BuildReport:
    from vitp_core.corpus.builders.detection import build_detection_corpus, items_from_coco

    return build_detection_corpus(
        items_from_coco(source, args.image_root),
        args.out,
        seed=args.seed,
        n_questions=args.n_questions,
        **_common(args, source, source.stem),
    )


def _args_change(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="folder with before/after/label sub-folders")
    p.add_argument("--before", default="A", help="name of the sub-folder of 'before' images")
    p.add_argument("--after", default="B", help="name of the sub-folder of 'after' images")
    p.add_argument("--label", default="label", help="name of the sub-folder of change masks")
    p.add_argument("--subject", default="building", help="what changes, as a noun")
    p.add_argument("--n-questions", type=int, default=3, help=_N_QUESTIONS)


def _run_change(args: argparse.Namespace, source: Path) -> BuildReport:
    from vitp_core.corpus.builders.change import build_change_corpus, find_change_pairs

    return build_change_corpus(
        find_change_pairs(source, args.before, args.after, args.label),
        args.out,
        seed=args.seed,
        subject=args.subject,
        n_questions=args.n_questions,
        **_common(args, source, source.name),
    )


def _args_volume(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source", help="folder with images/ + labels/ NIfTI, or a Decathlon dataset.json"
    )
    p.add_argument(
        "--class-map", help="class map JSON (required for folders; default: the datalist's labels)"
    )
    p.add_argument("--modality", help="CT (windowed) or MRI... (default: datalist's, else MRI)")
    p.add_argument("--window", help="CT window 'level,width' in HU (default 40,400)")
    p.add_argument("--planes", default="axial,coronal,sagittal", help="comma-separated planes")
    p.add_argument(
        "--slices-per-plane",
        type=int,
        default=1,
        help="slices per plane and volume (the most labelled one first)",
    )
    p.add_argument("--no-whole-volume", action="store_true", help="skip the 3-slice volume records")
    p.add_argument(
        "--midline", action="store_true", help="scans centred on the body midline: ask left/right"
    )
    p.add_argument("--limit", type=int, help="use at most this many volumes (default: all)")
    p.add_argument(
        "--volume-index",
        type=int,
        help="0-based volume of 4D series to use (default: none; 4D scans are then skipped)",
    )
    p.add_argument(
        "--max-voxels",
        type=int,
        help="largest scan in voxels per volume, checked from the header before reading "
        "(default: 512 x 512 x 2048)",
    )
    p.add_argument("--channels", type=int, choices=[1, 3], default=3, help=_CHANNELS)
    p.add_argument("--noun", default="structures", help=_NOUN)
    p.add_argument("--n-questions", type=int, default=3, help=_N_QUESTIONS)


def _run_volume(args: argparse.Namespace, source: Path) -> BuildReport:
    from vitp_core.corpus.builders import volume as b
    from vitp_core.corpus.class_map import load_class_map

    modality = "MRI"
    if source.is_file():
        items, class_map, modality = b.items_from_datalist(source)
    else:
        if not args.class_map:
            raise ValueError("--class-map is required for a folder of NIfTI volumes.")
        items = b.find_volume_pairs(source)
    if args.class_map:
        class_map = load_class_map(args.class_map)
    window = tuple(float(v) for v in args.window.split(",")) if args.window else None
    return b.build_volume_corpus(
        items[: args.limit] if args.limit else items,
        args.out,
        class_map,
        seed=args.seed,
        modality=args.modality or modality,
        window=window,  # type: ignore[arg-type]
        planes=_csv(args.planes) or (),
        slices_per_plane=args.slices_per_plane,
        whole_volume=not args.no_whole_volume,
        midline=args.midline,
        channels=args.channels,
        noun=args.noun,
        n_questions=args.n_questions,
        volume_index=args.volume_index,
        max_voxels=args.max_voxels,
        **_common(args, source, _default_name(source)),
    )


def _args_medmnist(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="MedMNIST .npz file")
    p.add_argument("--splits", default="train,val", help="splits to include (test is held out)")
    p.add_argument(
        "--limit-per-split", type=int, help="use at most this many images per split (default: all)"
    )
    p.add_argument(
        "--class-map",
        help="class map JSON {'0': name, ...} for unknown sets (default: MedMNIST's names)",
    )
    p.add_argument("--channels", type=int, choices=[1, 3], default=3, help=_CHANNELS)
    p.add_argument("--n-questions", type=int, default=2, help=_N_QUESTIONS)


def _run_medmnist(args: argparse.Namespace, source: Path) -> BuildReport:
    from vitp_core.corpus.builders.medmnist import build_medmnist_corpus
    from vitp_core.corpus.class_map import load_class_map

    names = load_class_map(args.class_map).names if args.class_map else None
    common = _common(args, source, "")
    return build_medmnist_corpus(
        source,
        args.out,
        class_names=names,
        seed=args.seed,
        splits=_csv(args.splits) or ("train",),
        limit_per_split=args.limit_per_split,
        channels=args.channels,
        n_questions=args.n_questions,
        **{**common, "name": args.name},
    )


def _args_vqa_rad(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="VQA-RAD JSON ('VQA_RAD Dataset Public.json')")
    p.add_argument("--image-root", help="image folder (default: images/ next to the JSON)")


def _run_vqa_rad(args: argparse.Namespace, source: Path) -> BuildReport:
    from vitp_core.corpus.builders.vqa_rad import build_vqa_rad_corpus

    return build_vqa_rad_corpus(
        source, args.out, image_root=args.image_root, **_common(args, source, "vqa_rad")
    )


def _args_raster(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="+", help="GeoTIFF rasters (any band count)")
    p.add_argument(
        "--labels", nargs="*", help="label GeoTIFF per raster, same grid (default: none)"
    )
    p.add_argument("--class-map", help="class map JSON for --labels (default: none)")
    p.add_argument("--band-names", help="comma-separated band names (default: descriptions)")
    p.add_argument("--chip-size", type=int, default=256, help=_CHIP_SIZE)
    p.add_argument("--stride", type=int, help=_STRIDE)
    p.add_argument("--n-questions", type=int, default=3, help=_N_QUESTIONS)


def _run_raster(args: argparse.Namespace, source: Path) -> BuildReport:
    from vitp_core.corpus.builders.raster import build_raster_corpus
    from vitp_core.corpus.class_map import load_class_map

    rasters = [_source(args, s) for s in args.source]
    return build_raster_corpus(
        rasters,
        args.out,
        seed=args.seed,
        chip_size=args.chip_size,
        stride=args.stride,
        band_names=_csv(args.band_names),
        label_rasters=[_source(args, s) for s in args.labels] if args.labels else None,
        class_map=load_class_map(args.class_map) if args.class_map else None,
        n_questions=args.n_questions,
        **_common(args, rasters[0], rasters[0].stem),
    )


def _args_vector(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="GeoTIFF raster")
    p.add_argument("vectors", help="GeoJSON / GeoPackage / shapefile with a class column")
    p.add_argument("--class-column", default="class", help="attribute holding each class")
    p.add_argument(
        "--classes",
        help="comma-separated classes in burn order, later on top (default: sorted names)",
    )
    p.add_argument(
        "--object-classes",
        help="comma-separated classes boxed and counted per feature (default: none)",
    )
    p.add_argument("--background", default="background", help="name of unlabelled pixels")
    p.add_argument("--chip-size", type=int, default=256, help=_CHIP_SIZE)
    p.add_argument("--stride", type=int, help=_STRIDE)
    p.add_argument("--band-names", help="comma-separated band names (default: descriptions)")
    p.add_argument(
        "--chip-bands", help="comma-separated bands written to the chips (default: all bands)"
    )
    p.add_argument("--n-questions", type=int, default=3, help=_N_QUESTIONS)


def _run_vector(args: argparse.Namespace, source: Path) -> BuildReport:
    from vitp_core.corpus.builders.vector import build_vector_corpus

    return build_vector_corpus(
        source,
        _source(args, args.vectors),
        args.out,
        class_column=args.class_column,
        classes=_csv(args.classes),
        object_classes=_csv(args.object_classes) or (),
        background=args.background,
        seed=args.seed,
        chip_size=args.chip_size,
        stride=args.stride,
        band_names=_csv(args.band_names),
        chip_bands=_csv(args.chip_bands),
        n_questions=args.n_questions,
        **_common(args, source, source.stem),
    )


def _args_torchgeo(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="TorchGeo dataset class name, e.g. EuroSAT, LandCoverAI, VHR10")
    p.add_argument(
        "--root", required=True, help="the dataset's local root folder (never downloads)"
    )
    p.add_argument(
        "--task",
        choices=["classification", "segmentation", "detection"],
        required=True,
        help="which questions the dataset's labels answer",
    )
    p.add_argument("--split", default="train", help="the dataset split to read")
    p.add_argument("--limit", type=int, help="use at most this many samples (default: all)")
    p.add_argument("--rgb-bands", default="0,1,2", help="0-based bands written to the PNG")


def _run_torchgeo(args: argparse.Namespace, source: Path) -> BuildReport:
    import torchgeo.datasets as tgd

    from vitp_core.corpus.builders.classification import build_classification_from_dataset
    from vitp_core.corpus.builders.detection import build_detection_from_dataset
    from vitp_core.corpus.builders.segmentation import build_segmentation_from_dataset

    dataset_cls = getattr(tgd, args.source, None)
    if dataset_cls is None:
        raise ValueError(f"torchgeo.datasets has no {args.source!r}.")
    dataset = dataset_cls(root=args.root, split=args.split, download=False)
    build = {
        "classification": build_classification_from_dataset,
        "segmentation": build_segmentation_from_dataset,
        "detection": build_detection_from_dataset,
    }[args.task]
    bands = [int(b) for b in _csv(args.rgb_bands) or [0, 1, 2]]
    return build(
        dataset,
        args.out,
        name=args.name or args.source.lower(),
        seed=args.seed,
        limit=args.limit,
        rgb_bands=bands,
        on_bad_record=args.on_bad_record,
    )


def _args_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-scenes", type=int, default=48, help="synthetic scenes generated")
    p.add_argument("--chip-size", type=int, default=128, help="side of each scene in pixels")
    p.add_argument("--force", action="store_true", help="rebuild even when up to date")


_KINDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], BuildFn]] = {
    "classification": (
        "scene/diagnosis labels: class folders or a label file",
        _args_classification,
        _run_classification,
    ),
    "segmentation": (
        "image + mask folders with a class map",
        _args_segmentation,
        _run_segmentation,
    ),
    "detection": ("COCO-style boxes", _args_detection, _run_detection),
    "change": ("before/after pairs with change masks", _args_change, _run_change),
    "volume": ("NIfTI volumes + label maps, or a Decathlon datalist", _args_volume, _run_volume),
    "medmnist": ("MedMNIST .npz arrays", _args_medmnist, _run_medmnist),
    "vqa-rad": ("VQA-RAD JSON (test split held out)", _args_vqa_rad, _run_vqa_rad),
    "raster": ("GeoTIFF rasters cut into chips", _args_raster, _run_raster),
    "vector": ("a raster with vector annotations", _args_vector, _run_vector),
    "torchgeo": ("a local TorchGeo NonGeoDataset", _args_torchgeo, _run_torchgeo),
}


def _build(args: argparse.Namespace) -> int:
    if args.kind == "demo":
        from vitp_core.corpus.demo import build_demo_corpus

        print(
            build_demo_corpus(
                args.out,
                seed=args.seed,
                n_scenes=args.n_scenes,
                chip_size=args.chip_size,
                force=args.force,
            )
        )
        return 0
    run = _KINDS[args.kind][2]
    try:
        source = _source(args) if args.kind != "torchgeo" else Path(args.source)
        with image_pixel_limit(args.max_image_pixels):
            report = run(args, source)
    except BadRecordError as err:
        print(
            f"vitp corpus build: stopped at a bad input (on_bad_record=raise): {err}",
            file=sys.stderr,
        )
        return 1
    except (FileNotFoundError, ValueError) as err:
        print(f"vitp corpus build: {err}", file=sys.stderr)
        return 2
    print(report.summary())
    for line in report.skipped[: args.show_skipped]:
        print(f"  skipped: {line}", file=sys.stderr)
    if len(report.skipped) > args.show_skipped:
        print(
            f"  ... {len(report.skipped) - args.show_skipped} more in build_report.json",
            file=sys.stderr,
        )
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from vitp_core.corpus.inspection import corpus_stats, draw_contact_sheet, format_stats

    try:
        with image_pixel_limit(args.max_image_pixels):
            stats = corpus_stats(args.corpus, check_images=not args.no_image_check)
    except (FileNotFoundError, ValueError) as err:
        print(f"vitp corpus inspect: {err}", file=sys.stderr)
        return 2
    print(format_stats(stats))
    sheet = args.sheet or Path(args.corpus).with_suffix(".samples.png")
    if args.samples > 0 and stats.samples:
        print(f"contact sheet: {draw_contact_sheet(stats.samples, sheet, args.samples, args.seed)}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from vitp_core.corpus.validate import validate_corpus

    try:
        report = validate_corpus(
            args.corpus,
            check_images=not args.no_image_check,
            on_bad_record=args.on_bad_record,
            max_image_pixels=args.max_image_pixels,
        )
    except BadRecordError as err:
        print(f"vitp corpus validate: {err}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError) as err:
        print(f"vitp corpus validate: {err}", file=sys.stderr)
        return 2
    for problem in report.problems:
        print(problem)
    print(report.summary())
    return 0 if report.ok else 1


_MAX_OPTIMIZE_WORKERS = 8


def _default_workers() -> int:
    """CPUs this process may run on, at most ``_MAX_OPTIMIZE_WORKERS``."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        count = os.cpu_count() or 1
    return max(1, min(count, _MAX_OPTIMIZE_WORKERS))


def _optimize(args: argparse.Namespace) -> int:
    from vitp_core.corpus.shards import optimize_corpus

    try:
        manifest = optimize_corpus(
            args.corpus,
            args.out,
            seed=args.seed,
            allowed_roots=args.allowed_image_roots or (),
            chunk_bytes=args.chunk_bytes,
            chunk_size=args.chunk_records,
            check_images=not args.no_image_check,
            workers=args.workers,
        )
    except ModuleNotFoundError as err:
        print(
            f"vitp corpus optimize: {err.name} is missing: pip install 'vitp[scale]'",
            file=sys.stderr,
        )
        return 2
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as err:
        print(f"vitp corpus optimize: {err}", file=sys.stderr)
        return 2
    for source in manifest.sources:
        print(
            f"{source['name']}: {source['records']} records x repeat_time "
            f"{source['repeat_time']:g} -> {source['items']} items, {source['bad']} bad"
        )
    print(
        f"wrote {manifest.items} items ({manifest.records} records) to {args.out}; "
        f"{manifest.bad_records} bad record(s) left out"
        + (f", listed in {Path(args.out) / 'bad_records.jsonl'}" if manifest.bad_records else "")
    )
    print(f"train on it with: vitp pretrain --data.corpus {args.out}")
    return 0


def _add_optimize(actions: argparse._SubParsersAction) -> None:
    optimize = actions.add_parser(
        "optimize",
        help="write a corpus as LitData shards for streaming at scale",
        description="Check every record once and write the corpus (a .jsonl or a mixture "
        ".json, repeat_time and per-source settings applied) as LitData chunks that "
        "`vitp pretrain --data.corpus DIR` streams: constant memory, a disjoint share per "
        "rank and worker, exact mid-epoch resume. Images are referenced in place.",
    )
    optimize.add_argument("corpus", help="a .jsonl corpus or a mixture .json")
    optimize.add_argument("--out", required=True, help="a new or empty folder for the shards")
    optimize.add_argument(
        "--seed", type=int, default=0, help="seed of fractional repeat_time and the item order"
    )
    optimize.add_argument("--chunk-bytes", default="64MB", help="most bytes per chunk")
    optimize.add_argument(
        "--chunk-records",
        type=int,
        help="most records per chunk, instead of --chunk-bytes (default: none, bytes decide)",
    )
    optimize.add_argument(
        "--allowed-image-roots",
        nargs="*",
        help="folders images may come from besides each source's root (default: none)",
    )
    optimize.add_argument(
        "--no-image-check", action="store_true", help="do not check that images exist"
    )
    optimize.add_argument(
        "--workers",
        type=int,
        default=_default_workers(),
        help="processes that check and write the records; any count writes the same items "
        f"(default: the CPUs available, at most {_MAX_OPTIMIZE_WORKERS}: "
        f"{_default_workers()} here)",
    )
    optimize.set_defaults(func=_optimize)


def _add_build(actions: argparse._SubParsersAction) -> None:
    build = actions.add_parser("build", help="build a corpus from a dataset in its native form")
    kinds = build.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind, (help_text, add_arguments, _) in [
        *_KINDS.items(),
        ("demo", ("the synthetic demo corpus", _args_demo, None)),
    ]:
        parser = kinds.add_parser(kind, help=help_text, description=help_text)
        add_arguments(parser)
        parser.add_argument(
            "--out", required=True, help="output corpus folder (never inside the data)"
        )
        parser.add_argument("--seed", type=int, default=0, help=_SEED)
        if kind != "demo":
            parser.add_argument(
                "--name",
                help="corpus name in meta.source and record ids (default: from the source)",
            )
            parser.add_argument(
                "--data-root", help="root of relative SOURCE paths (default: $VITP_DATA)"
            )
            parser.add_argument(
                "--on-bad-record", choices=["skip", "raise"], default="skip", help=_ON_BAD_RECORD
            )
            parser.add_argument(
                "--show-skipped", type=int, default=10, help="skipped inputs printed"
            )
            parser.add_argument("--max-image-pixels", type=int, help=_MAX_PIXELS)
        parser.set_defaults(func=_build)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vitp corpus {build,inspect,validate,optimize}`` to the ``vitp`` command line."""
    corpus = subparsers.add_parser("corpus", help="build, inspect and validate instruction corpora")
    actions = corpus.add_subparsers(dest="corpus_action", metavar="ACTION", required=True)
    _add_build(actions)
    inspect = actions.add_parser("inspect", help="statistics and a contact sheet of samples")
    inspect.add_argument("corpus", help="a .jsonl corpus or a mixture .json")
    inspect.add_argument("--sheet", help="contact sheet PNG (default: CORPUS.samples.png)")
    inspect.add_argument("--samples", type=int, default=8, help="records drawn (0: none)")
    inspect.add_argument("--seed", type=int, default=0, help="seed of the records drawn")
    inspect.add_argument("--no-image-check", action="store_true", help="do not decode images")
    inspect.add_argument("--max-image-pixels", type=int, help=_MAX_PIXELS)
    inspect.set_defaults(func=_inspect)
    validate = actions.add_parser("validate", help="check every record; exit 1 on problems")
    validate.add_argument("corpus", help="a .jsonl corpus or a mixture .json")
    validate.add_argument(
        "--on-bad-record",
        choices=["skip", "raise"],
        default="skip",
        help="skip: report every problem; raise: stop at the first",
    )
    validate.add_argument("--no-image-check", action="store_true", help="do not decode images")
    validate.add_argument("--max-image-pixels", type=int, help=_MAX_PIXELS)
    validate.set_defaults(func=_validate)
    _add_optimize(actions)
