"""Change detection with a siamese ViTP encoder, per-level fusion and UPerNet."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from torch import Tensor
from torchgeo.trainers import ChangeDetectionTask
from torchvision.models._api import WeightsEnum

from vitp_torchgeo.models import SiameseViTPChangeNet, ViTPyramidEncoder
from vitp_torchgeo.models.change import ChangeFusion
from vitp_torchgeo.trainers.common import (
    build_backbone,
    configure_vitp_optimizers,
    freeze,
    resolve_backbone,
)

__all__ = ["ViTPChangeDetectionTask"]


class ViTPChangeDetectionTask(ChangeDetectionTask):
    """Change detection (binary by default) with :class:`SiameseViTPChangeNet`.

    Batches are TorchGeo's: ``image`` of shape ``(B, 2, C, H, W)`` and ``mask`` of shape
    ``(B, 1, H, W)``, as from :class:`~torchgeo.datamodules.LEVIRCDDataModule`.
    """

    def __init__(
        self,
        model: Literal["siamese-upernet"] = "siamese-upernet",
        backbone: str | None = None,
        weights: WeightsEnum | str | None = None,
        in_channels: int = 3,
        bands: Sequence[str] | None = None,
        task: Literal["binary", "multiclass", "multilabel"] = "binary",
        num_classes: int | None = None,
        num_labels: int | None = None,
        pos_weight: Tensor | None = None,
        loss: Literal["ce", "bce", "jaccard", "focal", "dice"] = "bce",
        class_weights: Tensor | Sequence[float] | None = None,
        ignore_index: int | None = None,
        lr: float = 1e-4,
        patience: int = 10,
        freeze_backbone: bool = False,
        freeze_decoder: bool = False,
        fusion: ChangeFusion = "concat",
        out_indices: Sequence[int] | None = None,
        pyramid_channels: int = 256,
        decoder_channels: int = 256,
        weight_decay: float = 0.05,
        layer_decay: float = 0.9,
        drop_path_rate: float = 0.1,
        backbone_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Initialize a new ViTPChangeDetectionTask instance.

        Args:
            model: Architecture; only the siamese ViTP + UPerNet.
            backbone: timm name of the ViTP backbone; default: the weights' model, else
                ``vitp_small_patch16_224``.
            weights: Enum member, its name, or the path of a ``vitp export`` file.
            in_channels: Number of bands per date.
            bands: Band names per date, to adapt the patch embedding by name.
            task: One of 'binary', 'multiclass', or 'multilabel'.
            num_classes: Number of classes (only for ``task='multiclass'``).
            num_labels: Number of labels (only for ``task='multilabel'``).
            pos_weight: Weight of positive (changed) pixels in the 'bce' loss.
            loss: One of 'ce', 'bce', 'jaccard', 'focal' or 'dice'.
            class_weights: Optional rescaling weight of each class (with 'ce').
            ignore_index: Optional class index ignored by the loss and metrics.
            lr: Learning rate of the decoder and the last block.
            patience: Patience of the plateau learning-rate schedule, in epochs.
            freeze_backbone: Freeze the ViT.
            freeze_decoder: Freeze the ViT, pyramid, fusion and decoder.
            fusion: 'concat' (``[f1, f2, |f1 - f2|]`` projected) or 'diff' (``|f1 - f2|``).
            out_indices: Blocks feeding the pyramid (1 or 4, increasing).
            pyramid_channels: Width of the pyramid levels.
            decoder_channels: Width of the UPerNet decoder.
            weight_decay: AdamW weight decay of weight matrices.
            layer_decay: Layer-wise LR decay per block (1.0 disables).
            drop_path_rate: Stochastic depth of the backbone blocks.
            backbone_kwargs: Extra :func:`timm.create_model` arguments (``depth``...).
        """
        self.weights = weights
        # Recorded by save_hyperparameters (it reads these locals).
        backbone, backbone_kwargs = resolve_backbone(backbone, weights, backbone_kwargs)
        # Skip ChangeDetectionTask.__init__ (its own arguments) and run BaseTask's.
        super(ChangeDetectionTask, self).__init__()

    def configure_models(self) -> None:
        """Build the siamese ViTP change network and load the weights."""
        hparams = self.hparams
        vit, self.weights_result = build_backbone(
            hparams["backbone"],
            self.weights,
            hparams["in_channels"],
            hparams["bands"],
            hparams["backbone_kwargs"],
            drop_path_rate=hparams["drop_path_rate"],
        )
        encoder = ViTPyramidEncoder(vit, hparams["out_indices"], hparams["pyramid_channels"])
        self.model = SiameseViTPChangeNet(
            encoder,
            hparams["num_classes"] or hparams["num_labels"] or 1,
            hparams["fusion"],
            hparams["decoder_channels"],
        )
        if hparams["freeze_backbone"] or hparams["freeze_decoder"]:
            freeze(vit)
        if hparams["freeze_decoder"]:
            freeze(encoder.pyramid)
            freeze(self.model.fusions)
            freeze(self.model.segmenter.decoder)

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        """AdamW with layer-wise LR decay over the ViT and a plateau schedule."""
        return configure_vitp_optimizers(self, self.model.encoder.vit)
