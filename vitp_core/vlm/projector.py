"""The MLP projector from shuffled ViT features to language-model embeddings."""

from __future__ import annotations

from torch import nn

__all__ = ["VisualProjector"]


class VisualProjector(nn.Sequential):
    """LayerNorm -> Linear -> GELU -> Linear, as InternVL's ``mlp1``.

    Module indices (``0``, ``1``, ``3``) match InternVL's ``mlp1.*`` state-dict keys.

    Args:
        in_features: Width of a shuffled visual token (``4 * vit_width`` at ratio 0.5).
        out_features: Width of the language model's embeddings.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(
            nn.LayerNorm(in_features),
            nn.Linear(in_features, out_features),
            nn.GELU(),
            nn.Linear(out_features, out_features),
        )
        self.in_features = in_features
        self.out_features = out_features
