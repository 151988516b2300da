"""Prediction datamodule: the windows of one scene (or of two dates) for ``trainer.predict``.

Used by ``vitp predict`` and by ``torchgeo predict --config ...`` with
:class:`~vitp_torchgeo.prediction.ScenePredictionWriter`. Whatever is not given here
(bands, mean/std, window size) comes from the checkpoint's
:class:`~vitp_torchgeo.datasets.spec.RasterInputSpec`, so the scene is read and
normalised as the training windows were.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchgeo.datamodules import BaseDataModule

from vitp_torchgeo.datasets.rasters import (
    RasterInputError,
    compute_band_statistics,
    open_raster,
    resolve_band_indexes,
)
from vitp_torchgeo.datasets.root import VITP_DATA_ENV
from vitp_torchgeo.datasets.scene import SceneInfo, SceneWindowDataset, describe_scene
from vitp_torchgeo.datasets.spec import Normalization, RasterInputSpec
from vitp_torchgeo.datasets.windows import WindowPlan

__all__ = ["ScenePredictionDataModule"]

_logger = logging.getLogger(__name__)

#: Strip width that keeps a whole scene in one strip (no window visited twice).
_ONE_STRIP = 1 << 30


def _resolve(path: str, root: str | None) -> Path:
    """``root/path``; without ``root``, ``path`` itself or else ``$VITP_DATA/path``."""
    given = Path(path).expanduser()
    if root is not None:
        return Path(root).expanduser() / given
    data = os.environ.get(VITP_DATA_ENV)
    if not given.is_absolute() and not given.exists() and data:
        return Path(data).expanduser() / given
    return given


class ScenePredictionDataModule(BaseDataModule):
    """Overlapping windows of a scene of any size, read on demand, for scene prediction."""

    def __init__(
        self,
        image: str,
        image2: str | None = None,
        root: str | None = None,
        bands: Sequence[int | str] | None = None,
        band_names: Sequence[str] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        normalization: Normalization | None = None,
        window: int | None = None,
        overlap: float = 0.5,
        batch_size: int = 8,
        num_workers: int = 0,
        strip_width: int = 2048,
    ) -> None:
        """Initialize a new ScenePredictionDataModule.

        Args:
            image: The scene: any GDAL raster (GeoTIFF, COG, ENVI, JP2, PNG...); for change
                detection, the first date.
            image2: The second date (change detection), on the same pixel grid.
            root: Folder that relative ``image``/``image2`` paths start from; ``None``: the
                current folder, else ``$VITP_DATA`` (where the repository's data live).
            bands: Bands to read, 1-based numbers or names; default the checkpoint's.
            band_names: Names of all the file's bands, for files without band descriptions.
            mean: Per-band mean; default the checkpoint's.
            std: Per-band standard deviation; default the checkpoint's.
            normalization: ``"fixed"`` (mean/std) or ``"per_scene"`` (statistics of this
                scene); default the checkpoint's.
            window: Window side (px), a multiple of the model's patch size; default the
                training window size.
            overlap: Share of a window shared with its neighbour (dense tasks and
                detection; classification tiles the scene without overlap).
            batch_size: Windows per batch.
            num_workers: DataLoader worker processes.
            strip_width: Width (px) of the strips a dense scene is blended in; bounds
                memory (``classes x (window + 256) x strip_width`` floats).
        """
        super().__init__(Dataset, batch_size, num_workers)
        self.aug = nn.Identity()  # windows are normalised when read
        self.paths = [_resolve(image, root)] + ([_resolve(image2, root)] if image2 else [])
        self.bands = None if bands is None else list(bands)
        self.band_names = None if band_names is None else list(band_names)
        self.overrides = RasterInputSpec(
            mean=None if mean is None else list(mean),
            std=None if std is None else list(std),
            normalization=normalization or "fixed",
            patch_size=window,
        )
        self.normalization = normalization
        self.overlap = overlap
        self.strip_width = strip_width
        self.scene: SceneInfo | None = None

    def _module(self) -> Any:
        trainer = self.trainer
        if trainer is None or trainer.lightning_module is None:
            raise RuntimeError("ScenePredictionDataModule is used through trainer.predict.")
        return trainer.lightning_module

    def _spec(self, module: Any) -> RasterInputSpec:
        """The checkpoint's input spec with this datamodule's settings on top."""
        spec = RasterInputSpec.from_dict(getattr(module, "data_spec", None) or {})
        return spec.updated(
            mean=self.overrides.mean,
            std=self.overrides.std,
            normalization=self.normalization,
            patch_size=self.overrides.patch_size,
        )

    def _band_indexes(self, path: Path, spec: RasterInputSpec) -> list[int]:
        """Bands of one input: the user's choice, else the checkpoint's names or numbers."""
        with open_raster(path) as src:
            if self.bands is not None:
                return resolve_band_indexes(path, src, self.bands, self.band_names)
            named = self.band_names is not None or any(src.descriptions)
            if spec.bands and named:
                return resolve_band_indexes(path, src, spec.bands, self.band_names)
            if spec.band_indexes:
                return resolve_band_indexes(path, src, spec.band_indexes)
            return resolve_band_indexes(path, src, None)

    def _statistics(
        self, spec: RasterInputSpec, indexes: list[list[int]]
    ) -> tuple[list[list[float]], list[list[float]]]:
        """Mean/std per input: per scene, or the spec's for every input."""
        if spec.normalization == "per_scene" and self.overrides.mean is None:
            stats = [
                compute_band_statistics([path], bands)
                for path, bands in zip(self.paths, indexes, strict=True)
            ]
            return [s.mean for s in stats], [s.std for s in stats]
        if spec.mean is None or spec.std is None:
            raise RasterInputError(
                "The checkpoint records no normalisation for its input; give mean and std "
                "(--mean/--std, data.init_args.mean/std) or normalization: per_scene."
            )
        count = len(indexes[0])
        if len(spec.mean) != count or len(spec.std) != count:
            raise RasterInputError(
                f"mean/std have {len(spec.mean)}/{len(spec.std)} values but {count} bands are "
                f"read from {self.paths[0]}; give one value per band."
            )
        return [spec.mean] * len(self.paths), [spec.std] * len(self.paths)

    def _plan(self, module: Any, spec: RasterInputSpec, width: int, height: int) -> WindowPlan:
        size = spec.patch_size
        if size is None:
            raise RasterInputError(
                "The checkpoint records no window size; give one (--window, data.init_args.window)."
            )
        patch = int(getattr(module, "patch_size", 1))
        if size % patch:
            raise RasterInputError(
                f"window={size} px is not a multiple of the model's patch size {patch} px."
            )
        kind = getattr(module, "prediction_kind", "dense")
        if kind == "classification":
            return WindowPlan(height, width, size, size, strip_width=_ONE_STRIP, shift_last=False)
        strip = self.strip_width if kind == "dense" else _ONE_STRIP
        return WindowPlan.from_overlap(height, width, size, self.overlap, strip_width=strip)

    def predict_dataloader(self) -> DataLoader[Any]:
        """Windows of the scene in blending order (never shuffled)."""
        module = self._module()
        spec = self._spec(module)
        expected_dates = 2 if getattr(module, "input_dates", 1) == 2 else 1
        if len(self.paths) != expected_dates:
            raise RasterInputError(
                f"{type(module).__name__} reads {expected_dates} date(s) but "
                f"{len(self.paths)} raster(s) were given ({[os.fspath(p) for p in self.paths]})."
            )
        indexes = [self._band_indexes(path, spec) for path in self.paths]
        width, height, crs, transform = describe_scene(self.paths, indexes)
        in_channels = module.hparams.get("in_channels")
        if in_channels is not None and len(indexes[0]) != in_channels:
            raise RasterInputError(
                f"{self.paths[0]}: {len(indexes[0])} bands selected ({indexes[0]}) but the model "
                f"reads {in_channels}; select its bands with --bands (data.init_args.bands)."
            )
        mean, std = self._statistics(spec, indexes)
        plan = self._plan(module, spec, width, height)
        self.scene = SceneInfo(self.paths, width, height, crs, transform, indexes, plan)
        _logger.info(
            "Scene %s: %dx%d px, bands %s, %d windows of %d px (stride %d)",
            ", ".join(map(str, self.paths)),
            width,
            height,
            indexes[0],
            len(plan),
            plan.size,
            plan.stride,
        )
        return DataLoader(
            SceneWindowDataset(self.scene, mean, std),
            batch_size=self.batch_size,
            shuffle=False,
            num_workers=self.num_workers,
        )
