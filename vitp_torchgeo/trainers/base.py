"""The base of every ViTP TorchGeo trainer, as TorchGeo's own ``BaseTask`` is of theirs.

What classification, segmentation, change detection and detection share:

* weights: a ViTP export, a weights enum or name, loaded into the ViT with band
  adaptation (:meth:`ViTPBaseTask.build_vit`, :meth:`ViTPBaseTask.build_encoder`);
* optimizer: AdamW with layer-wise LR decay over the ViT and TorchGeo's plateau schedule,
  which follows the epoch-mean training loss when there is no validation data (TorchGeo's
  would stop at the end of the first epoch asking for ``val_loss``);
* ``predict_step``: written once, class probabilities (or boxes) per window;
* the checkpoint records the task's class and its input
  (:class:`~vitp_torchgeo.datasets.spec.RasterInputSpec`: bands, mean/std, window size),
  so ``vitp predict`` rebuilds the model and feeds a scene exactly as in training.

A trainer derives from this class first and from the TorchGeo task second, e.g.
``class ViTPClassificationTask(ViTPBaseTask, ClassificationTask)``; its ``__init__``
stores ``weights`` and runs ``BaseTask.__init__`` (skipping the TorchGeo task's, whose
arguments differ), which saves the hyper-parameters and calls ``configure_models``,
``configure_losses`` and ``configure_metrics``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from lightning.pytorch import Trainer
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from timm.models.vision_transformer import VisionTransformer
from torch import Tensor
from torch.optim import AdamW
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torchgeo.trainers import BaseTask

from vitp_torchgeo.datasets.spec import RasterInputSpec
from vitp_torchgeo.models import ViTPyramidEncoder
from vitp_torchgeo.optim import layer_decay_param_groups
from vitp_torchgeo.trainers.batch_checks import check_image, check_targets
from vitp_torchgeo.trainers.common import build_backbone, build_pyramid_encoder, freeze
from vitp_torchgeo.weights import WeightsLoadResult, WeightsSpec

__all__ = ["CHECKPOINT_KEY", "TRAIN_EPOCH_LOSS", "PredictionKind", "ViTPBaseTask"]

_logger = logging.getLogger(__name__)

#: Key of the ViTP record (task class, input spec) in a Lightning checkpoint.
CHECKPOINT_KEY = "vitp"
#: Metric the plateau schedule follows when the fit has no validation data.
TRAIN_EPOCH_LOSS = "train_loss_epoch_mean"

#: What scene prediction makes of a task's window predictions.
PredictionKind = Literal["dense", "classification", "detection"]


def _validation_runs(trainer: Trainer) -> bool:
    """Whether ``trainer.fit`` will validate (a val dataloader with batches)."""
    loop = trainer.fit_loop.epoch_loop.val_loop
    if trainer.limit_val_batches == 0 or not loop._data_source.is_defined():
        return False
    loop.setup_data()
    return sum(trainer.num_val_batches) > 0


def _datamodule_spec(datamodule: Any, hparams: Mapping[str, Any]) -> RasterInputSpec | None:
    """The input spec of a datamodule: its own ``input_spec()``, else what TorchGeo's have."""
    if datamodule is None:
        return None
    if callable(getattr(datamodule, "input_spec", None)):
        return datamodule.input_spec()
    channels = int(hparams.get("in_channels") or 0)
    mean, std = getattr(datamodule, "mean", None), getattr(datamodule, "std", None)
    if isinstance(mean, Tensor) and isinstance(std, Tensor) and channels:
        mean, std = mean.expand(channels).tolist(), std.expand(channels).tolist()
    else:
        mean = std = None
    patch = getattr(datamodule, "patch_size", None)
    patch = patch[0] if isinstance(patch, tuple | list) else patch
    bands = hparams.get("bands")
    return RasterInputSpec(
        bands=None if bands is None else list(bands),
        mean=mean,
        std=std,
        patch_size=int(patch) if isinstance(patch, int) else None,
        ignore_index=hparams.get("ignore_index"),
    )


class ViTPBaseTask(BaseTask):
    """Shared setup, optimizer, no-validation schedule, prediction and checkpoint record."""

    #: Hyper-parameters not saved: the weights are in the state dict.
    ignore = "weights"
    #: How scene prediction turns window predictions into products.
    prediction_kind: ClassVar[PredictionKind] = "dense"
    #: Dates per sample (2 for change detection).
    input_dates: ClassVar[int] = 1

    weights: WeightsSpec | None
    #: What loading the weights did (``None`` without weights).
    weights_result: WeightsLoadResult | None = None
    #: Input spec read from a checkpoint (``RasterInputSpec.to_dict()``), for prediction.
    data_spec: dict[str, Any] | None = None
    _log_train_epoch_loss = False

    # --- models ---------------------------------------------------------------------

    def build_vit(self, **kwargs: Any) -> VisionTransformer:
        """The task's timm ViT with its weights loaded (``kwargs``: more timm arguments)."""
        vit, self.weights_result = build_backbone(self.hparams, self.weights, **kwargs)
        return vit

    def build_encoder(self) -> ViTPyramidEncoder:
        """The ViT (weights loaded) under a simple feature pyramid, frozen as asked.

        ``freeze_backbone`` freezes the ViT; ``freeze_decoder`` also freezes the pyramid.
        """
        encoder, self.weights_result = build_pyramid_encoder(self.hparams, self.weights)
        freeze_decoder = bool(self.hparams.get("freeze_decoder", False))
        if self.hparams["freeze_backbone"] or freeze_decoder:
            freeze(encoder.vit)
        if freeze_decoder:
            freeze(encoder.pyramid)
        return encoder

    @property
    def vit(self) -> VisionTransformer:
        """The ViT inside the task's model."""
        for module in self.model.modules():
            if isinstance(module, VisionTransformer):
                return module
        raise AttributeError(f"{type(self).__name__}.model has no VisionTransformer.")

    @property
    def patch_size(self) -> int:
        """Patch size of the ViT (px): window sides must be multiples of it."""
        return int(self.vit.patch_embed.patch_size[0])

    # --- optimisation -------------------------------------------------------------------

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        """AdamW with layer-wise LR decay over the ViT, and TorchGeo's plateau schedule.

        Reads ``lr``, ``weight_decay``, ``layer_decay`` and ``patience``; the schedule
        monitors :attr:`monitor` (``val_loss``), or the epoch-mean training loss when the
        fit has no validation data (see :meth:`on_train_start`).
        """
        hparams = self.hparams
        groups = layer_decay_param_groups(
            self, self.vit, hparams["lr"], hparams["weight_decay"], hparams["layer_decay"]
        )
        optimizer = AdamW(groups, lr=hparams["lr"])
        scheduler = ReduceLROnPlateau(optimizer, patience=hparams["patience"])
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": self.monitor},
        }

    def on_train_start(self) -> None:
        """Without validation data, let the plateau schedule follow the training loss."""
        if _validation_runs(self.trainer):
            return
        for config in self.trainer.lr_scheduler_configs:
            if config.reduce_on_plateau and config.monitor == self.monitor:
                config.monitor = TRAIN_EPOCH_LOSS
                self._log_train_epoch_loss = True
        if self._log_train_epoch_loss:
            rank_zero_info(
                f"No validation data: the plateau schedule follows {TRAIN_EPOCH_LOSS!r}, the "
                f"epoch-mean training loss, instead of {self.monitor!r}."
            )

    def training_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """The TorchGeo task's training step, plus the epoch-mean loss when needed."""
        loss: Tensor = super().training_step(batch, batch_idx)
        if self._log_train_epoch_loss:
            size = len(batch["image"]) if isinstance(batch, Mapping) else None
            self.log(TRAIN_EPOCH_LOSS, loss.detach(), on_step=False, on_epoch=True, batch_size=size)
        return loss

    # --- batch checks -------------------------------------------------------------------

    def check_batch(self, batch: Any, stage: str, batch_idx: int, targets: bool = True) -> None:
        """Check a batch's image (rank, bands, finite) and class targets (see batch_checks)."""
        if not isinstance(batch, Mapping) or "image" not in batch:
            return
        if self.prediction_kind == "detection" and not isinstance(batch["image"], Tensor):
            return  # torchvision detectors also take lists of differently sized images
        where = f"{stage} batch {batch_idx}"
        in_chans = int(self.hparams["in_channels"])  # what the ViT was adapted to; no ViT needed
        check_image(batch["image"], dates=self.input_dates, in_chans=in_chans, where=where)
        if targets:
            check_targets(batch, self.hparams, where)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        """Refuse a batch the model cannot train on, in one line."""
        self.check_batch(batch, "training", batch_idx)

    def on_validation_batch_start(
        self, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Refuse a validation batch the model cannot compute on."""
        self.check_batch(batch, "validation", batch_idx)

    def on_test_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Refuse a test batch the model cannot compute on."""
        self.check_batch(batch, "test", batch_idx)

    def on_predict_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Refuse a prediction batch the model cannot compute on (no targets needed)."""
        self.check_batch(batch, "prediction", batch_idx, targets=False)

    # --- prediction ---------------------------------------------------------------------

    def activate(self, output: Any) -> Any:
        """Model output -> probabilities: sigmoid (binary, multilabel) or softmax."""
        if self.hparams.get("task") == "multiclass":
            return output.softmax(dim=1)
        return output.sigmoid()

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
        """Predictions of a batch of windows (``batch["image"]``).

        Returns:
            Class probabilities: ``(B, C, H, W)`` for dense tasks (``C = 1`` for binary),
            ``(B, K)`` for classification; boxes for detection.
        """
        return self.activate(self(batch["image"]))

    # --- checkpoint ---------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Record the task class and the input spec (bands, mean/std, window size)."""
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer else None
        spec = _datamodule_spec(datamodule, self.hparams)
        if spec is None and self.data_spec is not None:
            spec = RasterInputSpec.from_dict(self.data_spec)
        checkpoint[CHECKPOINT_KEY] = {
            "task": f"{type(self).__module__}.{type(self).__qualname__}",
            "data": None if spec is None else spec.to_dict(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the checkpoint's input spec for scene prediction."""
        record = checkpoint.get(CHECKPOINT_KEY) or {}
        self.data_spec = record.get("data")
