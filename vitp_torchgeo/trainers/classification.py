"""Image classification with a ViTP backbone: fine-tuning or linear probing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from torch import Tensor
from torchgeo.trainers import ClassificationTask
from torchvision.models._api import WeightsEnum

from vitp_torchgeo.trainers.base import ViTPBaseTask
from vitp_torchgeo.trainers.common import freeze

__all__ = ["ViTPClassificationTask"]


class ViTPClassificationTask(ViTPBaseTask, ClassificationTask):
    """Image classification with a ViTP backbone and a linear head.

    Unlike :class:`~torchgeo.trainers.ClassificationTask` given a ``vitp_*`` timm name
    (which also works), this task loads ``vitp export`` files and adapts bands, takes
    the architecture from the weights, and fine-tunes with layer-wise LR decay;
    ``freeze_backbone=True`` trains the linear head only (linear probe).
    """

    prediction_kind = "classification"

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
        lr: float = 1e-4,
        patience: int = 10,
        freeze_backbone: bool = False,
        weight_decay: float = 0.05,
        layer_decay: float = 0.75,
        drop_path_rate: float = 0.1,
        global_pool: Literal["token", "avg"] = "token",
        backbone_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Initialize a new ViTPClassificationTask instance.

        Args:
            backbone: timm name of the ViTP backbone (``vitp_small_patch16_224``...);
                default: the weights' model, else ``vitp_small_patch16_224``.
            weights: Enum member, its name, or the path of a ``vitp export`` file.
            in_channels: Number of input bands.
            bands: Band names of the input, to adapt the patch embedding by name.
            task: One of 'binary', 'multiclass', or 'multilabel'.
            num_classes: Number of prediction classes (only for ``task='multiclass'``).
            num_labels: Number of prediction labels (only for ``task='multilabel'``).
            loss: One of 'ce', 'bce', 'jaccard', or 'focal'.
            class_weights: Optional rescaling weight of each class (with 'ce').
            lr: Learning rate of the head and the last block.
            patience: Patience of the plateau learning-rate schedule, in epochs.
            freeze_backbone: Train the linear head only (linear probe).
            weight_decay: AdamW weight decay of weight matrices.
            layer_decay: Layer-wise LR decay per block (1.0 disables).
            drop_path_rate: Stochastic depth of the backbone blocks.
            global_pool: Pool the class token ('token') or the patch tokens ('avg'); either
                way the pretrained final norm is kept (timm's ``fc_norm`` stays off unless
                ``backbone_kwargs`` sets it).
            backbone_kwargs: Extra :func:`timm.create_model` arguments (``depth``...).
        """
        self.weights = weights
        # Skip ClassificationTask.__init__ (its own arguments) and run BaseTask's.
        super(ClassificationTask, self).__init__()

    def configure_models(self) -> None:
        """Build the ViT with a classification head and load the weights."""
        hparams = self.hparams
        extra: dict[str, Any] = {}
        if "fc_norm" not in (hparams["backbone_kwargs"] or {}):
            # timm swaps the final norm for an fc_norm under avg pooling, which would leave
            # the pretrained ``norm.*`` weights unused: keep the pretrained norm instead.
            extra["fc_norm"] = False
        self.model = self.build_vit(
            num_classes=hparams["num_classes"] or hparams["num_labels"] or 1,
            drop_path_rate=hparams["drop_path_rate"],
            global_pool=hparams["global_pool"],
            **extra,
        )
        if hparams["freeze_backbone"]:
            freeze(self.model)
            for param in self.model.get_classifier().parameters():
                param.requires_grad = True
