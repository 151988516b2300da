"""Command lines of vitp_torchgeo.

* ``vitp-torchgeo``: TorchGeo's CLI with the ViTP entries registered.
  ``vitp-torchgeo fit --config examples/torchgeo/rsscn7_vitp.yaml`` is ``torchgeo fit``
  after ``import vitp_torchgeo`` (which registers the ViTP models and weights), so YAML
  files may name ViTP weights by enum name even with TorchGeo's own trainers.
* ``vitp predict`` (:func:`register_predict`): a fine-tuned checkpoint applied to a whole
  scene, written as a Cloud-Optimized GeoTIFF.
* ``vitp band-stats`` (:func:`register_band_stats`): per-band mean/std of rasters.

The ``vitp`` sub-commands are contributed through the ``vitp.commands`` entry points.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main", "register_band_stats", "register_predict"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run TorchGeo's LightningCLI (``fit``, ``validate``, ``test``, ``predict``).

    Args:
        argv: Arguments after the program name; default ``sys.argv[1:]``.

    Returns:
        0 on success (LightningCLI exits on errors; a missing ``vitp[torchgeo]`` library
        exits with 1 and one line naming the extra).
    """
    from vitp_core.extras import exit_on_missing_extra

    with exit_on_missing_extra("vitp-torchgeo", extra="torchgeo"):
        from torchgeo.main import main as torchgeo_main

        import vitp_torchgeo  # noqa: F401  (registration)

        torchgeo_main(list(sys.argv[1:] if argv is None else argv))
    return 0


def _band_list(values: Sequence[str] | None) -> list[int | str] | None:
    """Band selectors from the command line: integers are 1-based numbers, others names."""
    if values is None:
        return None
    return [int(v) if v.lstrip("-").isdigit() else v for v in values]


def _fail(command: str, err: Exception) -> int:
    print(f"vitp {command}: error: {err}", file=sys.stderr)
    return 2


def _run_predict(args: argparse.Namespace) -> int:
    from vitp_torchgeo.datasets.rasters import RasterInputError
    from vitp_torchgeo.prediction import predict_scene

    try:
        written = predict_scene(
            args.checkpoint,
            args.image,
            args.out,
            image2=args.image2,
            probabilities=args.probabilities,
            vector=args.vector,
            task=args.task,
            bands=_band_list(args.bands),
            band_names=args.band_names,
            mean=args.mean,
            std=args.std,
            normalization=args.normalization,
            window=args.window,
            overlap=args.overlap,
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            threshold=args.threshold,
            min_score=args.min_score,
            class_names=args.class_names,
            accelerator=args.accelerator,
            overwrite=args.overwrite,
            progress=args.progress,
        )
    except (RasterInputError, FileNotFoundError, FileExistsError, ValueError) as err:
        return _fail("predict", err)
    for path in written:
        print(f"wrote {path}")
    return 0


def register_predict(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vitp predict``: a fine-tuned checkpoint applied to a whole scene."""
    parser = subparsers.add_parser(
        "predict",
        help="Predict a whole raster scene with a fine-tuned ViTP TorchGeo checkpoint.",
        description="Windowed, blended prediction of a GDAL raster of any size into a "
        "Cloud-Optimized GeoTIFF (or vector file) with the input's CRS and transform. "
        "Bands, normalisation and window size default to the checkpoint's.",
    )
    parser.add_argument("checkpoint", help="Lightning .ckpt of a ViTP TorchGeo task.")
    parser.add_argument("--image", required=True, help="Scene (first date for change).")
    parser.add_argument(
        "--image2", help="Second date (change detection), same grid (default: none)."
    )
    parser.add_argument("--out", required=True, help="Class raster .tif (or .gpkg/.geojson).")
    parser.add_argument(
        "--probabilities", help="Per-class probability COG, percent (default: not written)."
    )
    parser.add_argument(
        "--vector", help="Classification: also write window polygons here (default: not written)."
    )
    parser.add_argument(
        "--task",
        help="Task class or segmentation|change|classification|detection (default: the "
        "checkpoint's).",
    )
    parser.add_argument(
        "--bands", nargs="+", help="Bands: 1-based numbers or names (default: the checkpoint's)."
    )
    parser.add_argument(
        "--band-names", nargs="+", help="Names of all the file's bands (default: the file's)."
    )
    parser.add_argument(
        "--mean", type=float, nargs="+", help="Per-band mean (default: the checkpoint's)."
    )
    parser.add_argument(
        "--std",
        type=float,
        nargs="+",
        help="Per-band standard deviation (default: the checkpoint's).",
    )
    parser.add_argument(
        "--normalization",
        choices=("fixed", "per_scene"),
        help="fixed mean/std, or per_scene statistics (default: the checkpoint's).",
    )
    parser.add_argument("--window", type=int, help="Window side in px (default: training's).")
    parser.add_argument("--overlap", type=float, default=0.5, help="Window overlap share.")
    parser.add_argument("--batch-size", type=int, default=8, help="Windows per batch.")
    parser.add_argument("--num-workers", type=int, default=0, help="Loader processes.")
    parser.add_argument("--threshold", type=float, default=0.5, help="Binary threshold.")
    parser.add_argument(
        "--min-score",
        type=float,
        default=0.5,
        help="Detection: lowest score of a kept box (the detector itself keeps none under 0.05).",
    )
    parser.add_argument(
        "--class-names", nargs="+", help="Class names for the outputs (default: the checkpoint's)."
    )
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu, auto...")
    parser.add_argument("--overwrite", action="store_true", help="Replace existing outputs.")
    parser.add_argument("--progress", action="store_true", help="Show a progress bar.")
    parser.set_defaults(func=_run_predict)


def _run_band_stats(args: argparse.Namespace) -> int:
    from vitp_torchgeo.datasets.rasters import RasterInputError, compute_band_statistics

    try:
        stats = compute_band_statistics(
            args.rasters, _band_list(args.bands), args.band_names, args.max_pixels
        )
    except (RasterInputError, ValueError) as err:
        return _fail("band-stats", err)
    print(f"# {stats.pixels} valid pixels of {len(args.rasters)} raster(s)")
    print(f"mean: [{', '.join(f'{v:.6g}' for v in stats.mean)}]")
    print(f"std: [{', '.join(f'{v:.6g}' for v in stats.std)}]")
    return 0


def register_band_stats(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vitp band-stats``: per-band mean/std of rasters, as YAML lines."""
    parser = subparsers.add_parser(
        "band-stats",
        help="Per-band mean and std of rasters (nodata excluded), for mean:/std: settings.",
    )
    parser.add_argument("rasters", nargs="+", help="GDAL rasters with the same bands.")
    parser.add_argument(
        "--bands", nargs="+", help="Bands: 1-based numbers or names (default: all)."
    )
    parser.add_argument(
        "--band-names", nargs="+", help="Names of all the files' bands (default: the files')."
    )
    parser.add_argument(
        "--max-pixels", type=int, default=1_000_000, help="Pixels sampled per file at most."
    )
    parser.set_defaults(func=_run_band_stats)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
