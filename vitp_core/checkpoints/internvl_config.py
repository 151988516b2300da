"""The ``config.json`` of an InternVL2.5 Hugging Face folder, read and written without remote code.

``OpenGVLab/InternVL2_5-1B`` describes its three parts in one ``InternVLChatConfig``::

    vision_config        InternViT fields (hidden_size 1024, 24 layers, 16 heads, patch 14, 448 px)
    llm_config           a transformers LM config dict (Qwen2ForCausalLM: hidden_size 896 ...)
    downsample_ratio     0.5 (pixel shuffle 2x2 -> the mlp1 input is 4 x 1024 = 4096 wide)
    ps_version           "v2" (channel order of the pixel shuffle; missing means "v1", as in
                         InternVL's InternVLChatConfig, which vitp refuses)
    select_layer         -1 (the last ViT layer feeds the projector)
    template             "internvl2_5" (chat template)
    force_image_size, dynamic_image_size, use_thumbnail, min/max_dynamic_patch  (tiling)

vitp builds every part with its own code (timm ViT, ``VisualProjector``, a transformers LM
from its config class), so only the configurations that code reproduces exactly are
accepted; anything else is refused with the field that differs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from timm.models.vision_transformer import VisionTransformer
from transformers import PretrainedConfig

from vitp_core.checkpoints.internvit import read_internvit_config

__all__ = ["InternVLConfig", "internvl_config_dict", "read_internvl_config"]

#: InternVL ``llm_config`` keys that describe a runtime, not the architecture.
_RUNTIME_LLM_KEYS = ("attn_implementation", "_attn_implementation", "auto_map", "_name_or_path")


@dataclass(frozen=True)
class InternVLConfig:
    """What vitp needs from an InternVL2.5 ``config.json``.

    Attributes:
        vision: ``vision_config`` fields.
        llm: ``llm_config`` fields without runtime-only keys.
        downsample_ratio: Pixel-shuffle scale.
        template: Chat template name.
        image_size: Tile side in pixels (``force_image_size`` or the ViT's ``image_size``).
        use_thumbnail: Whether dynamic tiling adds a thumbnail tile.
        min_dynamic_patch: Fewest tiles per image.
        max_dynamic_patch: Most tiles per image.
        raw: The whole ``config.json``, to write back on export.
    """

    vision: dict[str, Any]
    llm: dict[str, Any]
    downsample_ratio: float
    template: str
    image_size: int
    use_thumbnail: bool
    min_dynamic_patch: int
    max_dynamic_patch: int
    raw: dict[str, Any]

    @property
    def llm_architecture(self) -> str:
        """The LM class name, e.g. ``"Qwen2ForCausalLM"``."""
        return (self.llm.get("architectures") or ["?"])[0]


def _problems(raw: dict[str, Any]) -> list[str]:
    problems = []
    if raw.get("downsample_ratio", 0.5) != 0.5:
        problems.append(f"downsample_ratio={raw['downsample_ratio']} (vitp supports 0.5)")
    if "ps_version" not in raw:
        problems.append(
            "no ps_version, which InternVLChatConfig reads as 'v1' (vitp's pixel shuffle is "
            '\'v2\'; InternVL2.5 folders set "ps_version": "v2" explicitly: add it if the '
            "model was trained with v2)"
        )
    elif raw["ps_version"] != "v2":
        problems.append(f"ps_version={raw['ps_version']!r} (vitp's pixel shuffle is 'v2')")
    if raw.get("select_layer", -1) != -1:
        problems.append(f"select_layer={raw['select_layer']} (vitp feeds the last ViT layer)")
    llm = raw.get("llm_config") or {}
    if not llm.get("model_type"):
        problems.append("llm_config has no model_type")
    elif llm["model_type"] == "internlm2":
        problems.append("llm_config is InternLM2, whose code exists only as remote code")
    if raw.get("template", "internvl2_5") != "internvl2_5":
        problems.append(f"template={raw['template']!r} (vitp implements 'internvl2_5')")
    return problems


def read_internvl_config(folder: str | os.PathLike[str]) -> InternVLConfig:
    """Read and check the ``config.json`` of an InternVL2.5 folder.

    Args:
        folder: A Hugging Face ``InternVLChatModel`` folder (``OpenGVLab/InternVL2_5-1B``).

    Returns:
        The parsed configuration.

    Raises:
        FileNotFoundError: Without ``config.json``.
        ValueError: Naming every field vitp cannot reproduce (pixel-shuffle version, layer
            selection, InternLM2 LMs, other chat templates, QK-norm ViTs...).
    """
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: --model.init_from expects an InternVL2.5 Hugging Face folder "
            "(config.json, model.safetensors, tokenizer files)."
        )
    raw = json.loads(path.read_text(encoding="utf-8"))
    if "vision_config" not in raw or "llm_config" not in raw:
        raise ValueError(
            f"{path}: no vision_config/llm_config: not an InternVL chat model config "
            "(for a bare InternViT use vitp_core.checkpoints.internvit.load_internvit_backbone)."
        )
    problems = _problems(raw)
    if problems:
        raise ValueError(f"{path}: unsupported InternVL configuration: {'; '.join(problems)}.")
    vision = read_internvit_config(folder)
    llm = {k: v for k, v in raw["llm_config"].items() if k not in _RUNTIME_LLM_KEYS}
    return InternVLConfig(
        vision=vision,
        llm=llm,
        downsample_ratio=float(raw.get("downsample_ratio", 0.5)),
        template=raw.get("template", "internvl2_5"),
        image_size=int(raw.get("force_image_size") or vision.get("image_size", 448)),
        use_thumbnail=bool(raw.get("use_thumbnail", False)),
        min_dynamic_patch=int(raw.get("min_dynamic_patch", 1)),
        max_dynamic_patch=int(raw.get("max_dynamic_patch", 6)),
        raw=raw,
    )


#: ``vision_config`` fields of InternViT-300M-448px-V2_5 that the ViT's tensors do not decide.
_INTERNVIT_DEFAULTS: dict[str, Any] = {
    "model_type": "intern_vit_6b",
    "dropout": 0.0,
    "attention_dropout": 0.0,
    "drop_path_rate": 0.0,
    "initializer_range": 1e-10,
    "initializer_factor": 0.1,
    "use_flash_attn": True,
}
#: ``InternVLChatConfig`` fields of InternVL2.5-1B that an export keeps unless its source differs.
_INTERNVL_DEFAULTS: dict[str, Any] = {
    "use_backbone_lora": 0,
    "use_llm_lora": 0,
    "pad2square": False,
    "dynamic_image_size": True,
    "use_thumbnail": True,
    "min_dynamic_patch": 1,
    "max_dynamic_patch": 12,
}
#: ``PretrainedConfig.to_dict`` entries that describe a runtime or a task head, not the LM.
_NOT_LLM_FIELDS = (
    "transformers_version",
    "_name_or_path",
    "id2label",
    "label2id",
    "problem_type",
    "output_hidden_states",
    "output_attentions",
    "return_dict",
    "chunk_size_feed_forward",
    "dtype",
)


def _vision_config_dict(vit: VisionTransformer, base: dict[str, Any]) -> dict[str, Any]:
    patch = int(vit.patch_embed.patch_size[0])
    return {
        **_INTERNVIT_DEFAULTS,
        **base,
        "architectures": ["InternVisionModel"],
        "hidden_size": vit.embed_dim,
        "intermediate_size": vit.blocks[0].mlp.fc1.out_features,
        "num_attention_heads": vit.blocks[0].attn.num_heads,
        "num_hidden_layers": len(vit.blocks),
        "patch_size": patch,
        "image_size": int(vit.patch_embed.grid_size[0]) * patch,
        "num_channels": vit.patch_embed.proj.in_channels,
        "norm_type": "layer_norm",
        "layer_norm_eps": 1e-6,
        "qkv_bias": vit.blocks[0].attn.qkv.bias is not None,
        "qk_normalization": False,
        "hidden_act": "gelu",
    }


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _llm_config_dict(config: PretrainedConfig, architecture: str, dtype: torch.dtype) -> dict:
    fields = {k: v for k, v in config.to_dict().items() if k not in _NOT_LLM_FIELDS}
    rope = fields.get("rope_parameters") or {}
    if "rope_theta" in rope:
        fields["rope_theta"] = rope["rope_theta"]
        rope_type = rope.get("rope_type", "default")
        scaling = {k: v for k, v in rope.items() if k not in ("rope_theta", "rope_type")}
        fields["rope_scaling"] = None if rope_type == "default" else {"type": rope_type, **scaling}
    fields["architectures"] = list(config.architectures or [architecture])
    fields["tie_word_embeddings"] = False
    fields["torch_dtype"] = _dtype_name(dtype)
    return fields


def internvl_config_dict(
    vit: VisionTransformer,
    language_model: torch.nn.Module,
    *,
    dtype: torch.dtype,
    source: InternVLConfig | None = None,
) -> dict[str, Any]:
    """The ``config.json`` of a ViTP model exported as an InternVL2.5 folder.

    Args:
        vit: The InternViT-shaped timm ViT.
        language_model: The transformers causal LM (its ``config`` is written).
        dtype: Dtype of the stored weights (``torch_dtype``).
        source: Config of the folder the model started from: its tiling, template and
            other fields are kept; the architecture fields always come from the model.

    Returns:
        A JSON-serialisable dict with every field the official configuration classes read.
    """
    raw = dict(source.raw) if source is not None else {}
    patch = int(vit.patch_embed.patch_size[0])
    llm = _llm_config_dict(language_model.config, type(language_model).__name__, dtype)
    return {
        **_INTERNVL_DEFAULTS,
        **{k: v for k, v in raw.items() if k not in ("_commit_hash", "transformers_version")},
        "architectures": ["InternVLChatModel"],
        "model_type": "internvl_chat",
        "downsample_ratio": 0.5,
        "ps_version": "v2",
        "select_layer": -1,
        "template": "internvl2_5",
        "torch_dtype": _dtype_name(dtype),
        "force_image_size": int(vit.patch_embed.grid_size[0]) * patch,
        "vision_config": _vision_config_dict(vit, dict(raw.get("vision_config", {}))),
        "llm_config": {**raw.get("llm_config", {}), **llm},
    }
