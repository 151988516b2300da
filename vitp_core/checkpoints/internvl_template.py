r"""InternVL2.5's ``internvl2_5`` chat template and tokenizer, without remote code.

InternVL renders conversations with its own ``Conversation`` class (``conversation.py``,
``sep_style=MPT``)::

    <|im_start|>system\n{system_message}<|im_end|>\n
    <|im_start|>user\n{question}<|im_end|>\n
    <|im_start|>assistant\n{answer}<|im_end|>\n

with a fixed default system message. :data:`INTERNVL2_5_CHAT_TEMPLATE` is the same text
as a Jinja chat template, so ``tokenizer.apply_chat_template`` (and vitp's answer-only
label masking) produce InternVL's training strings. Images appear in user turns as
``<img>`` + n x ``<IMG_CONTEXT>`` + ``</img>``.
"""

from __future__ import annotations

import os
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from vitp_core.vlm.tokenizer import IMG_CONTEXT_TOKEN, load_tokenizer

__all__ = [
    "INTERNVL2_5_CHAT_TEMPLATE",
    "INTERNVL2_5_SYSTEM_MESSAGE",
    "load_internvl_tokenizer",
]

#: The default system message of the ``internvl2_5`` conversation template.
INTERNVL2_5_SYSTEM_MESSAGE = (
    "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位"
    "联合开发的多模态大语言模型。"
)

#: ``internvl2_5`` as a Jinja chat template: a leading ``system`` message replaces the default.
INTERNVL2_5_CHAT_TEMPLATE = (
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set system_message = messages[0]['content'] -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set system_message = '" + INTERNVL2_5_SYSTEM_MESSAGE + "' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{{- '<|im_start|>system\\n' + system_message + '<|im_end|>\\n' -}}"
    "{%- for message in loop_messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def load_internvl_tokenizer(folder: str | os.PathLike[str]) -> PreTrainedTokenizerBase:
    """Load the tokenizer of an InternVL2.5 folder with its image tokens and chat template.

    Args:
        folder: The local InternVL2.5 folder (``tokenizer_config.json`` and vocabulary
            files); loaded offline with ``AutoTokenizer``, never with remote code.

    Returns:
        The tokenizer with ``<img>``, ``</img>``, ``<IMG_CONTEXT>`` (added only when the
        folder lacks them: InternVL2.5 ships them) and the ``internvl2_5`` chat template.
    """
    tokenizer = load_tokenizer(str(Path(folder)), trust_remote_code=False)
    tokenizer.chat_template = INTERNVL2_5_CHAT_TEMPLATE
    token_id = tokenizer.convert_tokens_to_ids(IMG_CONTEXT_TOKEN)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise ValueError(f"{folder}: the tokenizer cannot hold {IMG_CONTEXT_TOKEN}.")
    return tokenizer
