"""Tokenizers: an offline byte-level default, or any Hugging Face tokenizer.

Whatever the tokenizer, vitp adds the image tokens InternVL uses (``<img>``,
``<IMG_CONTEXT>``, ``</img>``) and the ChatML markers when absent, and gives it a
chat template (the tokenizer's own when it has one).
"""

from __future__ import annotations

import os
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from vitp_core.atomic_io import atomic_directory
from vitp_core.vlm.tokenizer_files import write_tokenizer_files

__all__ = [
    "CHATML_TEMPLATE",
    "IMG_CONTEXT_TOKEN",
    "IMG_END_TOKEN",
    "IMG_START_TOKEN",
    "build_byte_tokenizer",
    "load_tokenizer",
    "save_tokenizer",
    "wrap_chatml_tokenizer",
]

IMG_START_TOKEN = "<img>"
IMG_END_TOKEN = "</img>"
IMG_CONTEXT_TOKEN = "<IMG_CONTEXT>"
IM_START_TOKEN = "<|im_start|>"
IM_END_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|endoftext|>"
IMAGE_TOKENS = (IMG_START_TOKEN, IMG_END_TOKEN, IMG_CONTEXT_TOKEN)

#: ChatML, the format of Qwen2 and of InternVL2.5's ``internvl2_5`` template.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_byte_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level tokenizer (256 byte tokens + specials) that needs no files or training.

    Every UTF-8 byte is one token, so any text in any language round-trips; sequences
    are longer than with a trained BPE, which matters little for short answers.

    Returns:
        A fast tokenizer with ChatML and image special tokens and the ChatML template.
    """
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    backend = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    return wrap_chatml_tokenizer(backend)


def wrap_chatml_tokenizer(backend: Tokenizer) -> PreTrainedTokenizerFast:
    """Wrap a ``tokenizers`` backend with ViTP's pad, ChatML and image tokens and template.

    Args:
        backend: The trained or built ``tokenizers.Tokenizer``.

    Returns:
        A fast tokenizer with ``<|endoftext|>`` padding, ``<|im_end|>`` as end of turn, the
        ChatML and image special tokens and the ChatML chat template.
    """
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD_TOKEN,
        eos_token=IM_END_TOKEN,
        additional_special_tokens=[IM_START_TOKEN, *IMAGE_TOKENS],
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def _ensure_special_tokens(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    vocab = tokenizer.get_vocab()
    missing = [t for t in (*IMAGE_TOKENS, IM_START_TOKEN, IM_END_TOKEN) if t not in vocab]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or PAD_TOKEN
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def load_tokenizer(
    name_or_path: str = "bytes", *, trust_remote_code: bool = False
) -> PreTrainedTokenizerBase:
    """Load a tokenizer and add the tokens ViTP needs.

    Args:
        name_or_path: ``"bytes"`` for the built-in byte tokenizer, a local folder, or a
            Hugging Face Hub id (``"Qwen/Qwen2.5-0.5B-Instruct"``).
        trust_remote_code: Passed to ``AutoTokenizer``; off unless the user asks.

    Returns:
        The tokenizer, with image tokens, a pad token and a chat template.
    """
    if name_or_path == "bytes":
        return build_byte_tokenizer()
    local = Path(name_or_path)
    source = str(local) if local.exists() else name_or_path
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    return _ensure_special_tokens(tokenizer)


def save_tokenizer(tokenizer: PreTrainedTokenizerBase, out_dir: str | os.PathLike[str]) -> Path:
    """Save a tokenizer folder atomically (``save_pretrained`` into a staging folder).

    The folder also holds the classic ``vocab.json``, ``merges.txt``,
    ``added_tokens.json`` and ``special_tokens_map.json`` and a ``tokenizer.json`` /
    ``tokenizer_config.json`` that transformers 4.37 with tokenizers 0.15 (the official
    ViTP/InternVL stack) reads as well as transformers 5: see
    :mod:`vitp_core.vlm.tokenizer_files`.

    Args:
        tokenizer: The tokenizer to save.
        out_dir: Target folder; replaced if it exists.

    Returns:
        ``out_dir`` as a path.
    """
    with atomic_directory(out_dir) as staging:
        write_tokenizer_files(tokenizer, staging)
    return Path(out_dir)
