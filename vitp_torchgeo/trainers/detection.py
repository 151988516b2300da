"""Object detection (horizontal boxes) with ViTP, a simple feature pyramid and Faster R-CNN."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torchgeo.trainers import ObjectDetectionTask
from torchvision.models._api import WeightsEnum

from vitp_torchgeo.models import vitp_faster_rcnn
from vitp_torchgeo.trainers.base import ViTPBaseTask

__all__ = ["ViTPObjectDetectionTask"]


class ViTPObjectDetectionTask(ViTPBaseTask, ObjectDetectionTask):
    """Object detection: ViTP -> simple feature pyramid (ViTDet) -> Faster R-CNN.

    TorchGeo 0.8's :class:`~torchgeo.trainers.ObjectDetectionTask` builds only ResNet-FPN
    backbones, so this task replaces ``configure_models``; training, validation (mAP)
    and batches (``image``, ``bbox_xyxy``, ``label``) are TorchGeo's, e.g. from
    :class:`~torchgeo.datamodules.VHR10DataModule`. Scene prediction writes the boxes
    of overlapping windows, merged by non-maximum suppression, as polygons.
    """

    prediction_kind = "detection"

    def __init__(
        self,
        model: str = "faster-rcnn",
        backbone: str | None = None,
        weights: WeightsEnum | str | None = None,
        in_channels: int = 3,
        bands: Sequence[str] | None = None,
        num_classes: int = 2,
        lr: float = 1e-4,
        patience: int = 10,
        freeze_backbone: bool = False,
        out_indices: Sequence[int] | None = None,
        pyramid_channels: int = 256,
        weight_decay: float = 0.05,
        layer_decay: float = 0.9,
        drop_path_rate: float = 0.1,
        backbone_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Initialize a new ViTPObjectDetectionTask instance.

        Args:
            model: Detector; only 'faster-rcnn'.
            backbone: timm name of the ViTP backbone; default: the weights' model, else
                ``vitp_small_patch16_224``.
            weights: Enum member, its name, or the path of a ``vitp export`` file.
            in_channels: Number of input bands.
            bands: Band names of the input, to adapt the patch embedding by name.
            num_classes: Number of classes including the background.
            lr: Learning rate of the detector and the last block.
            patience: Patience of the plateau learning-rate schedule, in epochs.
            freeze_backbone: Freeze the ViT (train pyramid and detector heads).
            out_indices: Blocks feeding the pyramid (1 or 4, increasing).
            pyramid_channels: Width of the pyramid levels.
            weight_decay: AdamW weight decay of weight matrices.
            layer_decay: Layer-wise LR decay per block (1.0 disables).
            drop_path_rate: Stochastic depth of the backbone blocks.
            backbone_kwargs: Extra :func:`timm.create_model` arguments (``depth``...).
        """
        if model != "faster-rcnn":
            raise ValueError(f"model={model!r}: ViTPObjectDetectionTask builds 'faster-rcnn'.")
        self.weights = weights
        # Skip ObjectDetectionTask.__init__ (its own arguments) and run BaseTask's.
        super(ObjectDetectionTask, self).__init__()

    def configure_models(self) -> None:
        """Build ViTP + pyramid + Faster R-CNN and load the weights."""
        self.model = vitp_faster_rcnn(self.build_encoder(), self.hparams["num_classes"])

    def activate(self, output: Any) -> Any:
        """Boxes, scores and labels per image: already final."""
        return output
