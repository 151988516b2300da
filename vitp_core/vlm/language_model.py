"""The causal language model: a small Qwen2 built from a config, or any HF causal LM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import (
    AutoModelForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Qwen2Config,
    Qwen2ForCausalLM,
)

__all__ = ["DEFAULT_LM_CONFIG", "build_language_model"]

#: A 4-layer, 256-wide Qwen2: small enough for CPU, the same architecture as InternVL2.5-1B's LM.
DEFAULT_LM_CONFIG: dict[str, Any] = {
    "hidden_size": 256,
    "intermediate_size": 704,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 8192,
    "rope_theta": 1_000_000.0,
    "tie_word_embeddings": True,
}


def build_language_model(
    tokenizer: PreTrainedTokenizerBase,
    name_or_path: str | None = None,
    config: dict[str, Any] | None = None,
    *,
    trust_remote_code: bool = False,
) -> PreTrainedModel:
    """Build or load the causal LM and fit its vocabulary to ``tokenizer``.

    Args:
        tokenizer: The tokenizer (with image tokens added).
        name_or_path: ``None`` builds a randomly initialised Qwen2 from ``config``; otherwise
            a local folder or Hub id loaded with ``AutoModelForCausalLM.from_pretrained``.
        config: Qwen2 config overrides for the built model (see :data:`DEFAULT_LM_CONFIG`).
        trust_remote_code: Passed to ``from_pretrained``; off unless the user asks.

    Returns:
        The LM with ``len(tokenizer)`` input embeddings.
    """
    if name_or_path is None:
        settings = {**DEFAULT_LM_CONFIG, **(config or {})}
        lm_config = Qwen2Config(
            vocab_size=len(tokenizer),
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **settings,
        )
        lm_config._attn_implementation = "sdpa"
        return Qwen2ForCausalLM(lm_config)
    source = str(Path(name_or_path)) if Path(name_or_path).exists() else name_or_path
    lm = AutoModelForCausalLM.from_pretrained(source, trust_remote_code=trust_remote_code)
    if lm.get_input_embeddings().num_embeddings < len(tokenizer):
        lm.resize_token_embeddings(len(tokenizer))
    return lm
