"""Continue ViTP from an official InternVL2.5 folder, and write a ViTP model back in its layout.

The paper's pretraining starts from ``OpenGVLab/InternVL2_5-1B``: InternViT-300M-448px-V2_5
-> pixel shuffle (0.5) -> ``mlp1`` projector (LayerNorm 4096 -> Linear 4096->896 -> GELU ->
Linear 896->896) -> Qwen2.5-0.5B-Instruct. Its ``model.safetensors`` (or shards) holds

    vision_model.*     InternViT, see :mod:`vitp_core.checkpoints.internvit`
    mlp1.{0,1,3}.*     the projector (indices of ``nn.Sequential``; 2 is the GELU)
    language_model.*   a transformers causal LM (``model.*``, ``lm_head.weight``)

vitp builds the same network from its own code (no ``trust_remote_code``): a timm ViT,
``vitp_core.vlm.VisualProjector`` (same module indices as ``mlp1``) and the LM class that
transformers registers for ``llm_config.model_type``. Every stored tensor must land in
exactly one parameter, and every parameter must be loaded (a tied ``lm_head`` excepted).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from timm.models.vision_transformer import VisionTransformer
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from vitp_core.atomic_io import atomic_path, atomic_write_json
from vitp_core.checkpoints.internvit import (
    INTERNVIT_PREFIX,
    build_internvit_backbone,
    timm_to_internvit,
)
from vitp_core.checkpoints.internvl_config import internvl_config_dict, read_internvl_config
from vitp_core.checkpoints.internvl_template import load_internvl_tokenizer
from vitp_core.checkpoints.state_io import read_state_dict
from vitp_core.vlm.model import ViTPModel
from vitp_core.vlm.tokenizer import IMG_CONTEXT_TOKEN
from vitp_core.vlm.tokenizer_files import write_tokenizer_files
from vitp_core.vlm.vrl import VRLConfig

__all__ = [
    "LANGUAGE_MODEL_PREFIX",
    "PROJECTOR_PREFIX",
    "InternVLParts",
    "backbone_from_state",
    "build_internvl_language_model",
    "build_vitp_model_from_internvl",
    "internvl_state_dict",
    "save_internvl_folder",
    "split_internvl_state",
]

_logger = logging.getLogger(__name__)

#: Prefix of the projector in an InternVL checkpoint.
PROJECTOR_PREFIX = "mlp1."
#: Prefix of the language model in an InternVL checkpoint.
LANGUAGE_MODEL_PREFIX = "language_model."
#: Files of InternVL's remote code, copied verbatim on export so InternVL's own tools load it.
_REMOTE_CODE_GLOB = "*.py"


@dataclass
class InternVLParts:
    """An InternVL checkpoint split by part, prefixes removed.

    Attributes:
        vision: InternViT weights (``embeddings.*``, ``encoder.layers.*``).
        projector: ``mlp1`` weights under ``VisualProjector`` names (``0.weight``, ``1.bias``...).
        language_model: LM weights under transformers names (``model.*``, ``lm_head.weight``).
    """

    vision: dict[str, torch.Tensor]
    projector: dict[str, torch.Tensor]
    language_model: dict[str, torch.Tensor]


def split_internvl_state(state: Mapping[str, torch.Tensor]) -> InternVLParts:
    """Split an InternVL state dict into its three parts.

    Args:
        state: Keys ``vision_model.*``, ``mlp1.*`` and ``language_model.*``.

    Returns:
        The parts with prefixes stripped.

    Raises:
        KeyError: Naming a key that belongs to none of the three parts (e.g. a LoRA adapter
            left unmerged), or when a part is missing altogether.
    """
    parts = InternVLParts({}, {}, {})
    targets = (
        (INTERNVIT_PREFIX, parts.vision),
        (PROJECTOR_PREFIX, parts.projector),
        (LANGUAGE_MODEL_PREFIX, parts.language_model),
    )
    for key, value in state.items():
        for prefix, part in targets:
            if key.startswith(prefix):
                part[key[len(prefix) :]] = value
                break
        else:
            raise KeyError(
                f"InternVL key {key!r} is not under vision_model., mlp1. or language_model.; "
                "merge adapters (LoRA) into the weights before loading."
            )
    for prefix, part in targets:
        if not part:
            raise KeyError(f"InternVL checkpoint has no {prefix}* weights.")
    return parts


def build_internvl_language_model(
    llm_config: Mapping[str, Any], state: Mapping[str, torch.Tensor] | None = None
) -> PreTrainedModel:
    """Build the LM of ``llm_config`` with transformers' own class and load its weights.

    Args:
        llm_config: InternVL's ``llm_config`` dict (``model_type`` ``"qwen2"`` for
            InternVL2.5-1B); the config class comes from transformers' registry, so no
            remote code runs.
        state: LM weights without the ``language_model.`` prefix; ``None`` keeps the
            random initialisation.

    Returns:
        The causal LM in float32 with SDPA attention.

    Raises:
        ValueError: When stored weights and config disagree (the mismatching names).
    """
    fields = dict(llm_config)
    model_type = fields.pop("model_type")
    config = AutoConfig.for_model(model_type, **fields)
    lm = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa", dtype=torch.float32)
    if state is None:
        return lm
    result = lm.load_state_dict(dict(state), strict=False)
    tied = (
        set(getattr(lm, "_tied_weights_keys", None) or {}) if config.tie_word_embeddings else set()
    )
    missing = [k for k in result.missing_keys if k not in tied]
    if missing or result.unexpected_keys:
        raise ValueError(
            f"language_model weights do not fit llm_config ({type(lm).__name__}): "
            f"missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}."
        )
    return lm


def _load_projector(model: ViTPModel, state: Mapping[str, torch.Tensor]) -> None:
    expected = {k: tuple(v.shape) for k, v in model.projector.state_dict().items()}
    stored = {k: tuple(v.shape) for k, v in state.items()}
    if expected != stored:
        raise ValueError(
            f"mlp1 weights {stored} do not fit the projector {expected} "
            "(4 x ViT width -> LM width, LayerNorm, Linear, GELU, Linear)."
        )
    model.projector.load_state_dict(dict(state))


def _fit_vocabulary(lm: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    rows = lm.get_input_embeddings().num_embeddings
    if rows < len(tokenizer):
        _logger.warning("Resizing LM embeddings %d -> %d for added tokens", rows, len(tokenizer))
        lm.resize_token_embeddings(len(tokenizer))


def build_vitp_model_from_internvl(
    folder: str | os.PathLike[str],
    *,
    vrl: VRLConfig | None = None,
    img_size: int | None = None,
    drop_path_rate: float = 0.0,
) -> tuple[ViTPModel, PreTrainedTokenizerBase]:
    """Build a :class:`ViTPModel` with every weight of an InternVL2.5 folder.

    Args:
        folder: Local Hugging Face folder of ``OpenGVLab/InternVL2_5-1B`` (or another
            Qwen2-based InternVL2.5): ``config.json``, ``model.safetensors`` or shards with
            ``model.safetensors.index.json``, tokenizer files.
        vrl: VRL settings of the new model.
        img_size: Tile side in pixels; default the folder's (448). Other sizes resample
            the ViT position grid.
        drop_path_rate: ViT stochastic depth for continued pretraining (the paper: 0.1).

    Returns:
        The model (ViT in train-ready float32) and the tokenizer with InternVL's image
        tokens and the ``internvl2_5`` chat template.
    """
    folder = Path(folder)
    config = read_internvl_config(folder)
    parts = split_internvl_state(read_state_dict(folder))
    vit = build_internvit_backbone(
        parts.vision,
        img_size=img_size or config.image_size,
        num_heads=config.vision.get("num_attention_heads"),
        drop_path_rate=drop_path_rate,
    )
    tokenizer = load_internvl_tokenizer(folder)
    lm = build_internvl_language_model(config.llm, parts.language_model)
    _fit_vocabulary(lm, tokenizer)
    model = ViTPModel(
        vit,
        lm,
        image_token_id=tokenizer.convert_tokens_to_ids(IMG_CONTEXT_TOKEN),
        pad_token_id=tokenizer.pad_token_id,
        vrl=vrl,
        downsample_ratio=config.downsample_ratio,
    )
    _load_projector(model, parts.projector)
    _logger.info("Initialised ViTP from InternVL folder %s", folder)
    return model.train(), tokenizer


def backbone_from_state(
    state: Mapping[str, torch.Tensor],
    *,
    img_size: int | None = None,
    num_heads: int | None = None,
    init_from: str | os.PathLike[str] | None = None,
) -> VisionTransformer:
    """Rebuild the ViT of a run that started from an InternVL folder, from its timm weights.

    Used by ``vitp export`` on ``model.vit.*`` of a pretraining checkpoint.

    Args:
        state: timm-layout ViT weights (``cls_token``, ``blocks.N.*``...).
        img_size: Tile side the run trained at.
        num_heads: Attention heads; tensors do not record them.
        init_from: The run's InternVL folder; when it still exists its ``config.json``
            supplies ``num_heads``. Without either, ``embed_dim // 64`` (right for
            InternViT-300M) is assumed and a warning is logged.

    Returns:
        The ViT with ``state`` loaded, in eval mode.
    """
    if num_heads is None and init_from is not None and (Path(init_from) / "config.json").is_file():
        num_heads = read_internvl_config(init_from).vision.get("num_attention_heads")
    if num_heads is None:
        _logger.warning("num_heads unknown: assuming embed_dim // 64 (InternViT-300M: 16).")
    return build_internvit_backbone(
        timm_to_internvit(state), img_size=img_size, num_heads=num_heads
    )


def internvl_state_dict(model: ViTPModel) -> dict[str, torch.Tensor]:
    """The full VLM state dict in InternVL's layout (inverse of the loader).

    Args:
        model: A ViTP model whose ViT is InternViT-shaped.

    Returns:
        ``vision_model.*``, ``mlp1.*`` and ``language_model.*`` tensors. ``lm_head.weight``
        is always there, also for a tied LM: InternVL's ``InternVLChatConfig`` unties every
        LM, so the official loader needs it.
    """
    state = timm_to_internvit(model.vit.state_dict(), prefix=INTERNVIT_PREFIX)
    state |= {PROJECTOR_PREFIX + k: v for k, v in model.projector.state_dict().items()}
    state |= {LANGUAGE_MODEL_PREFIX + k: v for k, v in model.language_model.state_dict().items()}
    out, seen = {}, set()
    for key, value in state.items():
        tensor = value.detach().cpu().contiguous()
        if tensor.data_ptr() in seen:  # a tied lm_head: safetensors stores a storage once
            tensor = tensor.clone()
        seen.add(tensor.data_ptr())
        out[key] = tensor
    return out


def save_internvl_folder(
    model: ViTPModel,
    tokenizer: PreTrainedTokenizerBase,
    out: str | os.PathLike[str],
    *,
    source: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a ViTP model as an InternVL2.5 Hugging Face folder.

    Args:
        model: The model (e.g. after continued ViTP pretraining).
        tokenizer: Its tokenizer; saved with ``save_pretrained`` plus the classic files
            that transformers 4.37 reads (:mod:`vitp_core.vlm.tokenizer_files`).
        out: Target folder (created).
        source: The InternVL folder the model started from: its ``config.json`` fields are
            kept (tiling, template...) and its remote-code ``*.py`` files are copied so that
            InternVL's own tools load the result.

    Returns:
        ``out``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    source_config = read_internvl_config(source) if source is not None else None
    state = internvl_state_dict(model)
    with atomic_path(out / "model.safetensors") as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    dtype = next(iter(state.values())).dtype
    config = internvl_config_dict(
        model.vit, model.language_model, dtype=dtype, source=source_config
    )
    atomic_write_json(out / "config.json", config)
    write_tokenizer_files(tokenizer, out)
    if source is not None:
        for code in Path(source).glob(_REMOTE_CODE_GLOB):
            shutil.copy2(code, out / code.name)
    return out
