"""Change detection with a siamese ViTP encoder, per-level fusion and UPerNet."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import matplotlib.pyplot as plt
from torch import Tensor
from torchgeo.datamodules import BaseDataModule
from torchgeo.datasets import RGBBandsMissingError, unbind_samples
from torchgeo.trainers import ChangeDetectionTask
from torchvision.models._api import WeightsEnum

from vitp_torchgeo.losses import dense_loss
from vitp_torchgeo.models import SiameseViTPChangeNet
from vitp_torchgeo.models.change import ChangeFusion
from vitp_torchgeo.trainers.base import ViTPBaseTask
from vitp_torchgeo.trainers.common import freeze

__all__ = ["ViTPChangeDetectionTask"]


class ViTPChangeDetectionTask(ViTPBaseTask, ChangeDetectionTask):
    """Change detection (binary by default) with :class:`SiameseViTPChangeNet`.

    Batches are TorchGeo's: ``image`` of shape ``(B, 2, C, H, W)`` and ``mask`` of shape
    ``(B, 1, H, W)``, as from :class:`~torchgeo.datamodules.LEVIRCDDataModule`.

    Sparse labels work in every setting: pixels whose mask equals ``ignore_index``
    (unlabelled) count in no loss (binary ``bce`` and ``jaccard`` included, see
    :func:`~vitp_torchgeo.losses.dense_loss`) and in no metric.

    The step is TorchGeo's, except that validation figures denormalise the image alone:
    TorchGeo 0.8.1 passes the ``(B, 1, H, W)`` mask through a kornia ``VideoSequential``,
    which kornia 0.9 rejects (one mask frame for two dates).
    """

    input_dates = 2

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
        # Skip ChangeDetectionTask.__init__ (its own arguments) and run BaseTask's.
        super(ChangeDetectionTask, self).__init__()

    def configure_models(self) -> None:
        """Build the siamese ViTP change network and load the weights."""
        hparams = self.hparams
        self.model = SiameseViTPChangeNet(
            self.build_encoder(),
            hparams["num_classes"] or hparams["num_labels"] or 1,
            hparams["fusion"],
            hparams["decoder_channels"],
        )
        if hparams["freeze_decoder"]:
            freeze(self.model.fusions)
            freeze(self.model.segmenter.decoder)

    def configure_losses(self) -> None:
        """TorchGeo's losses, with ``ignore_index`` honoured by all of them."""
        self.criterion = dense_loss(self.hparams)

    def _shared_step(self, batch: Any, batch_idx: int, stage: str) -> Tensor:
        """Compute the loss and metrics of a stage; log figures for validation.

        Args:
            batch: ``image`` ``(B, 2, C, H, W)`` and ``mask`` ``(B, 1, H, W)`` (values 0/1,
                or class indices; ``ignore_index`` where unlabelled).
            batch_idx: Index of the batch.
            stage: ``train``, ``val`` or ``test``.

        Returns:
            The loss.
        """
        x, y = batch["image"], batch["mask"].long()
        if self.hparams["task"] == "multiclass":
            y = y.squeeze(1)
        y_hat = self(x)
        loss: Tensor = self.criterion(y_hat, y.float() if self.hparams["loss"] == "bce" else y)
        self.log(f"{stage}_loss", loss, batch_size=x.shape[0])
        metrics = getattr(self, f"{stage}_metrics", None)
        if metrics:
            metrics(y_hat, y)
            self.log_dict(metrics, batch_size=x.shape[0])
        if stage == "val" and batch_idx < 10:
            self._log_figure(batch, y_hat, batch_idx)
        return loss

    def _log_figure(self, batch: dict[str, Tensor], y_hat: Tensor, batch_idx: int) -> None:
        """Plot the first sample of a validation batch to a logger that takes figures."""
        datamodule = getattr(self.trainer, "datamodule", None)
        experiment = getattr(self.logger, "experiment", None) if self.logger else None
        if not isinstance(datamodule, BaseDataModule) or not hasattr(experiment, "add_figure"):
            return
        image = batch["image"] * datamodule.std.to(batch["image"]).view(-1, 1, 1)
        image = image + datamodule.mean.to(image).view(-1, 1, 1)
        if self.hparams["task"] == "multiclass":
            prediction = y_hat.argmax(dim=1, keepdim=True)
        else:
            prediction = (y_hat.sigmoid() >= 0.5).long()
        sample = unbind_samples(
            {"image": image.cpu(), "mask": batch["mask"].cpu(), "prediction": prediction.cpu()}
        )[0]
        try:
            figure = datamodule.plot(sample)
        except RGBBandsMissingError:
            return
        if figure:
            experiment.add_figure(f"image/{batch_idx}", figure, global_step=self.global_step)
            plt.close(figure)
