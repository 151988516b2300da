"""The ``config.json`` of an InternVL2.5 Hugging Face folder, read without remote code.

``OpenGVLab/InternVL2_5-1B`` describes its three parts in one ``InternVLChatConfig``::

    vision_config        InternViT fields (hidden_size 1024, 24 layers, 16 heads, patch 14, 448 px)
    llm_config           a transformers LM config dict (Qwen2ForCausalLM: hidden_size 896 ...)
    downsample_ratio     0.5 (pixel shuffle 2x2 -> the mlp1 input is 4 x 1024 = 4096 wide)
    ps_version           "v2" (channel order of the pixel shuffle)
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

from vitp_core.checkpoints.internvit import read_internvit_config

__all__ = ["InternVLConfig", "read_internvl_config"]

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
    if raw.get("ps_version", "v2") != "v2":
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
