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


#: Tiny Qwen2 widths under InternVL2.5-1B's ``llm_config`` field names.
TINY_LLM = {"hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2, "heads": 4, "kv": 2}
#: InternVL2.5's extra special tokens, in the order of its ``added_tokens.json``.
INTERNVL_ADDED_TOKENS = (
    "<img>",
    "</img>",
    "<IMG_CONTEXT>",
    "<quad>",
    "</quad>",
    "<ref>",
    "</ref>",
    "<box>",
    "</box>",
)


def make_qwen2_tokenizer(*, image_tokens: bool = True):
    """A byte-level Qwen2 tokenizer with Qwen2.5's ChatML specials (and InternVL's tokens)."""
    from tokenizers import pre_tokenizers
    from transformers import Qwen2Tokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokenizer = Qwen2Tokenizer(
        vocab={ch: i for i, ch in enumerate(alphabet)},
        merges=[],
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tokenizer.add_special_tokens(
        {"additional_special_tokens": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]}
    )
    if image_tokens:
        tokenizer.add_tokens(list(INTERNVL_ADDED_TOKENS), special_tokens=True)
    return tokenizer


def internvl_llm_config(vocab_size: int, *, tied: bool, bos: int = 257, eos: int = 256) -> dict:
    """InternVL2.5-1B's ``llm_config`` fields (Qwen2.5-0.5B-Instruct), tiny widths."""
    return {
        "_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct",
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "attn_implementation": "flash_attention_2",
        "bos_token_id": bos,  # 151643 (<|endoftext|>) in the real file
        "eos_token_id": eos,  # 151645 (<|im_end|>) in the real file
        "hidden_act": "silu",
        "hidden_size": TINY_LLM["hidden_size"],
        "initializer_range": 0.02,
        "intermediate_size": TINY_LLM["intermediate_size"],
        "max_position_embeddings": 32768,
        "max_window_layers": 21,
        "model_type": "qwen2",
        "num_attention_heads": TINY_LLM["heads"],
        "num_hidden_layers": TINY_LLM["num_hidden_layers"],
        "num_key_value_heads": TINY_LLM["kv"],
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 1000000.0,
        "sliding_window": 32768,
        "tie_word_embeddings": tied,
        "torch_dtype": "bfloat16",
        "use_bfloat16": True,
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": vocab_size,
    }


def internvl_config(vocab_size: int, *, tied: bool = False) -> dict:
    """The fields of ``OpenGVLab/InternVL2_5-1B``'s ``config.json``, tiny widths."""
    vision = internvit_config(**TINY_ARCH)
    return {
        "_commit_hash": None,
        "architectures": ["InternVLChatModel"],
        "auto_map": {
            "AutoConfig": "configuration_internvl_chat.InternVLChatConfig",
            "AutoModel": "modeling_internvl_chat.InternVLChatModel",
            "AutoModelForCausalLM": "modeling_internvl_chat.InternVLChatModel",
        },
        "downsample_ratio": 0.5,
        "dynamic_image_size": True,
        "force_image_size": vision["image_size"],
        "llm_config": internvl_llm_config(vocab_size, tied=tied),
        "max_dynamic_patch": 12,
        "min_dynamic_patch": 1,
        "model_type": "internvl_chat",
        "ps_version": "v2",
        "select_layer": -1,
        "template": "internvl2_5",
        "torch_dtype": "bfloat16",
        "use_backbone_lora": 0,
        "use_llm_lora": 0,
        "use_thumbnail": True,
        "vision_config": vision,
    }


def make_internvl_state(vocab_size: int, *, tied: bool = False, seed: int = 0) -> dict:
    """Random InternVL2.5 weights: ``vision_model.*``, ``mlp1.{0,1,3}.*``, ``language_model.*``."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    llm = internvl_llm_config(vocab_size, tied=tied)
    fields = {k: v for k, v in llm.items() if k not in ("model_type", "attn_implementation")}
    language_model = Qwen2ForCausalLM(Qwen2Config(**fields))
    lm_state = language_model.state_dict()
    if tied:
        lm_state.pop("lm_head.weight")
    width_in = 4 * TINY_ARCH["embed_dim"]
    width_lm = TINY_LLM["hidden_size"]
    gen = torch.Generator().manual_seed(seed + 1)
    mlp1 = {
        "mlp1.0.weight": 1 + 0.1 * torch.randn(width_in, generator=gen),
        "mlp1.0.bias": 0.1 * torch.randn(width_in, generator=gen),
        "mlp1.1.weight": 0.05 * torch.randn(width_lm, width_in, generator=gen),
        "mlp1.1.bias": 0.05 * torch.randn(width_lm, generator=gen),
        "mlp1.3.weight": 0.05 * torch.randn(width_lm, width_lm, generator=gen),
        "mlp1.3.bias": 0.05 * torch.randn(width_lm, generator=gen),
    }
    vision = make_internvit_state(
        embed_dim=TINY_ARCH["embed_dim"],
        depth=TINY_ARCH["depth"],
        mlp_hidden=TINY_ARCH["mlp_hidden"],
        patch=TINY_ARCH["patch"],
        grid=TINY_ARCH["grid"],
        prefix="vision_model.",
        seed=seed,
    )
    return vision | mlp1 | {"language_model." + k: v.clone() for k, v in lm_state.items()}


def write_internvl_folder(
    folder: Path, *, tied: bool = False, sharded: bool = False, image_tokens: bool = True
) -> Path:
    """Write a tiny ``OpenGVLab/InternVL2_5-1B``-layout folder.

    ``config.json`` with ``vision_config``/``llm_config``/``template``/``ps_version``, bf16
    weights in ``model.safetensors`` (or two shards with ``model.safetensors.index.json``),
    a Qwen2 tokenizer saved with ``save_pretrained`` and a stand-in remote-code file.
    """
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = make_qwen2_tokenizer(image_tokens=image_tokens)
    tokenizer.save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps(internvl_config(len(tokenizer), tied=tied)))
    (folder / "modeling_internvl_chat.py").write_text("# InternVL remote code (never run)\n")
    state = {
        k: v.to(torch.bfloat16) for k, v in make_internvl_state(len(tokenizer), tied=tied).items()
    }
    if not sharded:
        save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
        return folder
    names = sorted(state)
    shards = {
        "model-00001-of-00002.safetensors": names[::2],
        "model-00002-of-00002.safetensors": names[1::2],
    }
    for shard, keys in shards.items():
        save_file({k: state[k] for k in keys}, folder / shard, metadata={"format": "pt"})
    weight_map = {k: shard for shard, keys in shards.items() for k in keys}
    index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return folder
