"""Scene prediction: from a fine-tuned checkpoint and a raster of any size to a COG.

``vitp predict CKPT --image scene.tif --out classes.tif`` (or ``torchgeo predict --config``
with :class:`ScenePredictionWriter` and
:class:`~vitp_torchgeo.datamodules.ScenePredictionDataModule`) visits overlapping windows
(:class:`WindowPlan`), blends their predictions with :func:`blend_weights`
(:class:`StripBlender`) and writes finished rows as they come (:class:`CogRasterSink`).
"""

from vitp_torchgeo.datasets.windows import PlannedWindow, WindowPlan, blend_weights
from vitp_torchgeo.prediction.blender import StripBlender
from vitp_torchgeo.prediction.run import predict_scene
from vitp_torchgeo.prediction.sinks import CogRasterSink, OutputExistsError, cog_problems
from vitp_torchgeo.prediction.writer import ScenePredictionWriter

__all__ = [
    "CogRasterSink",
    "OutputExistsError",
    "PlannedWindow",
    "ScenePredictionWriter",
    "StripBlender",
    "WindowPlan",
    "blend_weights",
    "cog_problems",
    "predict_scene",
]
