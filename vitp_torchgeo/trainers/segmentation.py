"""Semantic segmentation with a ViTP backbone, simple feature pyramid and UPerNet."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from torch import Tensor
from torchgeo.trainers import SemanticSegmentationTask
from torchvision.models._api import WeightsEnum

from vitp_torchgeo.losses import dense_loss
from vitp_torchgeo.models import ViTPUPerNet
from vitp_torchgeo.trainers.base import ViTPBaseTask
from vitp_torchgeo.trainers.common import freeze

__all__ = ["ViTPSemanticSegmentationTask"]


class ViTPSemanticSegmentationTask(ViTPBaseTask, SemanticSegmentationTask):
    """Semantic segmentation: ViTP -> simple feature pyramid (ViTDet) -> UPerNet.

    TorchGeo's :class:`~torchgeo.trainers.SemanticSegmentationTask` also takes a ViTP
    backbone as ``model='dpt', backbone='tu-vitp_small_patch16_224'``; this task adds the
    feature pyramid from chosen blocks, UPerNet, ViTP weights with band adaptation, and
    layer-wise LR decay. ``ignore_index`` is honoured by every loss, binary ``bce`` and
    ``jaccard`` included (:func:`~vitp_torchgeo.losses.dense_loss`).
    """

    def __init__(
        self,
        backbone: str | None = None,
        weights: WeightsEnum | str | None = None,
        in_channels: int = 3,
        bands: Sequence[str] | None = None,
        task: Literal["binary", "multiclass", "multilabel"] = "multiclass",
        num_classes: int | None = None,
        num_labels: int | None = None,
        loss: Literal["ce", "bce", "jaccard", "focal"] = "ce",
        class_weights: Tensor | Sequence[float] | None = None,
        ignore_index: int | None = None,
        lr: float = 1e-4,
        patience: int = 10,
        freeze_backbone: bool = False,
        freeze_decoder: bool = False,
        out_indices: Sequence[int] | None = None,
        pyramid_channels: int = 256,
        decoder_channels: int = 256,
        weight_decay: float = 0.05,
        layer_decay: float = 0.9,
        drop_path_rate: float = 0.1,
        backbone_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Initialize a new ViTPSemanticSegmentationTask instance.

        Args:
            backbone: timm name of the ViTP backbone; default: the weights' model, else
                ``vitp_small_patch16_224``.
            weights: Enum member, its name, or the path of a ``vitp export`` file.
            in_channels: Number of input bands.
            bands: Band names of the input, to adapt the patch embedding by name.
            task: One of 'binary', 'multiclass', or 'multilabel'.
            num_classes: Number of prediction classes (only for ``task='multiclass'``).
            num_labels: Number of prediction labels (only for ``task='multilabel'``).
            loss: One of 'ce', 'bce', 'jaccard', or 'focal'.
            class_weights: Optional rescaling weight of each class (with 'ce').
            ignore_index: Optional class index ignored by the loss and metrics.
            lr: Learning rate of the decoder and the last block.
            patience: Patience of the plateau learning-rate schedule, in epochs.
            freeze_backbone: Freeze the ViT (train pyramid, decoder and head).
            freeze_decoder: Freeze the ViT, pyramid and decoder (train the 1x1 head only).
            out_indices: Blocks feeding the pyramid (1 or 4, increasing); default evenly
                spaced.
            pyramid_channels: Width of the pyramid levels.
            decoder_channels: Width of the UPerNet decoder.
            weight_decay: AdamW weight decay of weight matrices.
            layer_decay: Layer-wise LR decay per block (1.0 disables).
            drop_path_rate: Stochastic depth of the backbone blocks.
            backbone_kwargs: Extra :func:`timm.create_model` arguments (``depth``...).
        """
        self.weights = weights
        # Skip SemanticSegmentationTask.__init__ (its own arguments) and run BaseTask's.
        super(SemanticSegmentationTask, self).__init__()

    def configure_models(self) -> None:
        """Build ViTP + pyramid + UPerNet and load the weights."""
        hparams = self.hparams
        self.model = ViTPUPerNet(
            self.build_encoder(),
            hparams["num_classes"] or hparams["num_labels"] or 1,
            hparams["decoder_channels"],
        )
        if hparams["freeze_decoder"]:
            freeze(self.model.decoder)

    def configure_losses(self) -> None:
        """TorchGeo's losses, with ``ignore_index`` honoured by all of them."""
        self.criterion = dense_loss(self.hparams)
