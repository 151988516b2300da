"""Writers of tiny random checkpoints in the official InternViT / InternVL2.5 layouts.

Same key names and config fields as the published files, tiny widths, so every loader is
exercised on the real layout without downloading anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

#: A tiny InternViT: same key names as InternViT-300M, small widths.
TINY_ARCH = {"embed_dim": 64, "depth": 2, "num_heads": 4, "mlp_hidden": 128, "patch": 14, "grid": 4}


def make_internvit_state(
    *,
    embed_dim: int = 64,
    depth: int = 2,
    mlp_hidden: int = 128,
    patch: int = 14,
    grid: int = 4,
    in_chans: int = 3,
    prefix: str = "",
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Random weights under InternVL's ``modeling_intern_vit.py`` names (LayerNorm variant)."""
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape: int, scale: float = 0.05) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * scale

    d = embed_dim
    state = {
        "embeddings.class_embedding": rand(1, 1, d, scale=0.5),
        "embeddings.patch_embedding.weight": rand(d, in_chans, patch, patch),
        "embeddings.patch_embedding.bias": rand(d),
        "embeddings.position_embedding": rand(1, 1 + grid * grid, d, scale=0.5),
    }
    for i in range(depth):
        layer = f"encoder.layers.{i}."
        state |= {
            layer + "norm1.weight": 1 + rand(d),
            layer + "norm1.bias": rand(d),
            layer + "attn.qkv.weight": rand(3 * d, d, scale=0.2),
            layer + "attn.qkv.bias": rand(3 * d),
            layer + "attn.proj.weight": rand(d, d, scale=0.2),
            layer + "attn.proj.bias": rand(d),
            layer + "ls1": 0.5 + rand(d),
            layer + "norm2.weight": 1 + rand(d),
            layer + "norm2.bias": rand(d),
            layer + "mlp.fc1.weight": rand(mlp_hidden, d, scale=0.2),
            layer + "mlp.fc1.bias": rand(mlp_hidden),
            layer + "mlp.fc2.weight": rand(d, mlp_hidden, scale=0.2),
            layer + "mlp.fc2.bias": rand(d),
            layer + "ls2": 0.5 + rand(d),
        }
    return {prefix + k: v for k, v in state.items()}


def internvit_config(
    *, embed_dim: int, depth: int, num_heads: int, mlp_hidden: int, patch: int, grid: int
) -> dict:
    """The fields of ``OpenGVLab/InternViT-300M-448px-V2_5``'s ``config.json``, tiny widths."""
    return {
        "architectures": ["InternVisionModel"],
        "attention_dropout": 0.0,
        "drop_path_rate": 0.0,
        "dropout": 0.0,
        "hidden_act": "gelu",
        "hidden_size": embed_dim,
        "image_size": patch * grid,
        "initializer_factor": 0.1,
        "initializer_range": 1e-10,
        "intermediate_size": mlp_hidden,
        "layer_norm_eps": 1e-6,
        "model_type": "intern_vit_6b",
        "norm_type": "layer_norm",
        "num_attention_heads": num_heads,
        "num_channels": 3,
        "num_hidden_layers": depth,
        "patch_size": patch,
        "qk_normalization": False,
        "qkv_bias": True,
        "torch_dtype": "bfloat16",
        "use_flash_attn": True,
    }


def write_internvit_folder(
    folder: Path, state: dict[str, torch.Tensor], *, num_heads: int, **arch: int
) -> Path:
    """Write an ``InternViT-300M-448px-V2_5``-style folder: config.json + bf16 model.safetensors."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    fields = TINY_ARCH | arch | {"num_heads": num_heads}
    (folder / "config.json").write_text(json.dumps(internvit_config(**fields)))
    save_file({k: v.to(torch.bfloat16) for k, v in state.items()}, folder / "model.safetensors")
    return folder
