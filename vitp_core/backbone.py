"""ViTP backbones: timm ``VisionTransformer`` variants registered under ``vitp_*`` names.

Importing this module registers the names with timm's registry, so that
``timm.create_model("vitp_small_patch16_224", in_chans=13)`` works anywhere (and
segmentation-models-pytorch's ``tu-vitp_small_patch16_224`` encoder too).

All variants default to ``dynamic_img_size=True`` (any input size whose sides are
multiples of the patch size) and accept any ``in_chans`` (RGB, multispectral, SAR, CT/MRI).

At an input size other than the one a model was built for, the position grid is resized
on the fly. vitp's own variants do it as timm does (bicubic with antialiasing);
``vitp_intern300m_patch14_448`` (InternViT-300M, the architecture every model built from
InternViT/InternVL weights uses) does it as InternViT's ``InternVisionEmbeddings`` does:
bicubic without antialiasing, so its features match the official model's at any size.
"""

from __future__ import annotations

from typing import Any

import timm
import torch
from timm.layers import resample_abs_pos_embed
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn

__all__ = [
    "STOCK_TIMM_EQUIVALENT",
    "VITP_MODEL_NAMES",
    "ViTPVisionTransformer",
    "create_backbone",
    "encode_patch_tokens",
]


def _cfg(**kwargs: Any) -> dict[str, Any]:
    """Default timm pretrained config for a ViTP variant (no weights are attached)."""
    return {
        "url": "",
        "num_classes": 0,
        "input_size": (3, 224, 224),
        "pool_size": None,
        "crop_pct": 1.0,
        "interpolation": "bicubic",
        "fixed_input_size": False,
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "first_conv": "patch_embed.proj",
        "classifier": "head",
        "license": "apache-2.0",
        **kwargs,
    }


default_cfgs = generate_default_cfgs(
    {
        "vitp_tiny_patch16_224.untrained": _cfg(),
        "vitp_small_patch16_224.untrained": _cfg(),
        "vitp_base_patch16_224.untrained": _cfg(),
        "vitp_large_patch16_224.untrained": _cfg(),
        "vitp_intern300m_patch14_448.untrained": _cfg(input_size=(3, 448, 448)),
    }
)

#: Architecture hyper-parameters of every registered ViTP variant.
VITP_ARCHS: dict[str, dict[str, Any]] = {
    "vitp_tiny_patch16_224": {"patch_size": 16, "embed_dim": 192, "depth": 12, "num_heads": 3},
    "vitp_small_patch16_224": {"patch_size": 16, "embed_dim": 384, "depth": 12, "num_heads": 6},
    "vitp_base_patch16_224": {"patch_size": 16, "embed_dim": 768, "depth": 12, "num_heads": 12},
    "vitp_large_patch16_224": {"patch_size": 16, "embed_dim": 1024, "depth": 24, "num_heads": 16},
    # InternViT-300M (InternVL2.5): LayerScale 0.1, no final norm, 448 px at patch 14.
    "vitp_intern300m_patch14_448": {
        "patch_size": 14,
        "embed_dim": 1024,
        "depth": 24,
        "num_heads": 16,
        "init_values": 0.1,
        "final_norm": False,
        "img_size": 448,
        "pos_embed_antialias": False,
    },
}

VITP_MODEL_NAMES: tuple[str, ...] = tuple(VITP_ARCHS)

#: Stock timm models with the same architecture and state-dict keys, so an export also
#: loads with plain timm where vitp is not installed.
STOCK_TIMM_EQUIVALENT: dict[str, str] = {
    name: name.replace("vitp_", "vit_", 1) for name in VITP_MODEL_NAMES
}


class ViTPVisionTransformer(VisionTransformer):
    """timm's ``VisionTransformer`` with a choice of how the position grid is resized.

    Args:
        pos_embed_antialias: Antialias the bicubic resize of the position embedding at
            run-time input sizes (timm's behaviour); ``False`` resizes as InternViT does.
        **kwargs: :class:`timm.models.vision_transformer.VisionTransformer` arguments.
    """

    def __init__(self, *, pos_embed_antialias: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pos_embed_antialias = pos_embed_antialias

    def _pos_embed(self, x: torch.Tensor) -> torch.Tensor:
        """Add position embeddings to ``(B, H, W, C)`` patch tokens and prepend prefix tokens."""
        if self.pos_embed_antialias or not self.dynamic_img_size or self.pos_embed is None:
            return super()._pos_embed(x)
        batch, height, width, channels = x.shape
        prefix = 0 if self.no_embed_class else self.num_prefix_tokens
        pos_embed = resample_abs_pos_embed(
            self.pos_embed,
            new_size=(height, width),
            old_size=self.patch_embed.grid_size,
            num_prefix_tokens=prefix,
            antialias=False,
        )
        x = x.view(batch, -1, channels)
        tokens = [
            t.expand(batch, -1, -1) for t in (self.cls_token, self.reg_token) if t is not None
        ]
        if self.no_embed_class:
            x = torch.cat([*tokens, x + pos_embed], dim=1)
        else:
            x = torch.cat([*tokens, x], dim=1) + pos_embed
        return self.pos_drop(x)


def _create_vitp(variant: str, pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """Build a ViTP variant through timm's ``build_model_with_cfg``.

    Args:
        variant: Registered model name, e.g. ``"vitp_small_patch16_224"``.
        pretrained: Load the weights of the pretrained tag (timm's hub mechanics).
        **kwargs: Overrides for :class:`timm.models.vision_transformer.VisionTransformer`.

    Returns:
        The ViT, headless (``num_classes=0``) unless ``num_classes`` is given.
    """
    model_args: dict[str, Any] = {
        "num_classes": 0,
        "dynamic_img_size": True,
        **VITP_ARCHS[variant],
        **kwargs,
    }
    return build_model_with_cfg(
        ViTPVisionTransformer,
        variant,
        pretrained,
        pretrained_filter_fn=checkpoint_filter_fn,
        **model_args,
    )


@register_model
def vitp_tiny_patch16_224(pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """ViTP ViT-Tiny/16 (width 192, depth 12, 3 heads)."""
    return _create_vitp("vitp_tiny_patch16_224", pretrained, **kwargs)


@register_model
def vitp_small_patch16_224(pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """ViTP ViT-Small/16 (width 384, depth 12, 6 heads)."""
    return _create_vitp("vitp_small_patch16_224", pretrained, **kwargs)


@register_model
def vitp_base_patch16_224(pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """ViTP ViT-Base/16 (width 768, depth 12, 12 heads)."""
    return _create_vitp("vitp_base_patch16_224", pretrained, **kwargs)


@register_model
def vitp_large_patch16_224(pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """ViTP ViT-Large/16 (width 1024, depth 24, 16 heads)."""
    return _create_vitp("vitp_large_patch16_224", pretrained, **kwargs)


@register_model
def vitp_intern300m_patch14_448(pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """ViTP InternViT-300M/14 at 448 px: the backbone of InternVL2.5-1B and the official ViTP."""
    return _create_vitp("vitp_intern300m_patch14_448", pretrained, **kwargs)


def create_backbone(
    name: str = "vitp_tiny_patch16_224",
    *,
    in_chans: int = 3,
    img_size: int | tuple[int, int] | None = None,
    drop_path_rate: float = 0.0,
    **kwargs: Any,
) -> VisionTransformer:
    """Create a headless ViTP backbone.

    Args:
        name: A ``vitp_*`` name or any timm ViT name (``vit_small_patch16_224``).
        in_chans: Number of input bands.
        img_size: Reference input size in pixels (sets the stored position grid);
            other sizes still work through ``dynamic_img_size``.
        drop_path_rate: Stochastic depth rate of the blocks.
        **kwargs: Further :class:`VisionTransformer` arguments (``depth``, ``embed_dim``...).

    Returns:
        A ``VisionTransformer`` with ``num_classes=0`` and dynamic input size.
    """
    if img_size is not None:
        kwargs["img_size"] = img_size
    kwargs.setdefault("num_classes", 0)
    kwargs.setdefault("dynamic_img_size", True)
    model = timm.create_model(name, in_chans=in_chans, drop_path_rate=drop_path_rate, **kwargs)
    if not isinstance(model, VisionTransformer):
        raise TypeError(f"{name!r} is not a timm VisionTransformer (got {type(model).__name__}).")
    return model


def encode_patch_tokens(
    vit: VisionTransformer,
    pixels: torch.Tensor,
    keep_index: torch.Tensor | None = None,
) -> torch.Tensor:
    """Run the ViT and return its patch tokens (prefix/CLS tokens dropped).

    With ``keep_index`` only the chosen patch tokens enter the transformer blocks
    (MAE-style early dropping), which saves ViT compute in proportion to the share
    dropped. Position embeddings are added before dropping, so every kept token
    keeps its original position.

    Args:
        vit: A timm ``VisionTransformer``.
        pixels: Images, shape ``(B, C, H, W)``; ``H`` and ``W`` multiples of the patch size.
        keep_index: Optional patch indices to keep, shape ``(B, K)``, values in ``[0, N)``
            where ``N = (H / p) * (W / p)`` in row-major grid order.

    Returns:
        Patch features, shape ``(B, N, D)`` or ``(B, K, D)`` with ``keep_index``.
    """
    x = vit.patch_embed(pixels)
    x = vit._pos_embed(x)
    prefix = vit.num_prefix_tokens
    if keep_index is not None:
        patches = x[:, prefix:]
        gather = keep_index.unsqueeze(-1).expand(-1, -1, patches.shape[-1])
        x = torch.cat([x[:, :prefix], torch.gather(patches, 1, gather)], dim=1)
    x = vit.patch_drop(x)
    x = vit.norm_pre(x)
    if vit.grad_checkpointing and torch.is_grad_enabled():
        from timm.models._manipulate import checkpoint_seq

        x = checkpoint_seq(vit.blocks, x)
    else:
        x = vit.blocks(x)
    x = vit.norm(x)
    return x[:, prefix:]
