"""Lightning training of ViTP: module, schedule, run artifacts and the LightningCLI."""

from vitp_core.training.module import ViTPPretrainModule

__all__ = ["ViTPPretrainModule"]
