"""vitp_torchgeo: ViTP backbones as TorchGeo weights, models, trainers and datamodules.

Importing this package registers the ViTP backbones with timm (``vitp_*`` names, and
segmentation-models-pytorch's ``tu-vitp_*`` encoders) and with TorchGeo's model API
(:func:`torchgeo.models.get_model`, ``get_weight``, ``get_model_weights``,
``list_models``). A LightningCLI YAML that names ``class_path: vitp_torchgeo.trainers...``
imports it, so plain ``torchgeo fit --config ...`` works.
"""

from vitp_core.extras import extra_required

# without vitp[torchgeo] (e.g. only vitp[monai]), say so in one line, not a traceback
with extra_required("vitp-torchgeo", "torchgeo", at_import=True):
    from vitp_torchgeo.registration import register_with_torchgeo
    from vitp_torchgeo.weights import (
        ViTPBase16_Weights,
        ViTPIntern300M14_Weights,
        ViTPLarge16_Weights,
        ViTPSmall16_Weights,
        ViTPTiny16_Weights,
        load_vitp_weights,
    )

    register_with_torchgeo()

__all__ = [
    "ViTPBase16_Weights",
    "ViTPIntern300M14_Weights",
    "ViTPLarge16_Weights",
    "ViTPSmall16_Weights",
    "ViTPTiny16_Weights",
    "load_vitp_weights",
    "register_with_torchgeo",
]
