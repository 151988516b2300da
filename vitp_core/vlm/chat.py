r"""Turn a conversation into token ids and answer-only labels with any chat template.

The conversation is rendered with the tokenizer's chat template. Each assistant
answer's character span is found by rendering the conversation up to that answer
with and without it; the text is then tokenised segment by segment (as InternVL's
preprocessing does), so that exactly the answer tokens and their end-of-turn marker
carry labels and everything else (system, user, image and padding tokens) is ``-100``.

The supervised span is the official one of InternVL2.5's ``preprocess_internvl2_5``
(which ViTP trains with): for ``<|im_start|>assistant\n{answer}<|im_end|>\n`` the
answer and ``<|im_end|>`` carry labels, the role header and the ``\n`` after
``<|im_end|>`` do not. In general, whitespace the template puts after an answer's
end-of-turn marker is never a target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from vitp_core.corpus.records import IMAGE_TAG, ConversationTurn
from vitp_core.vlm.tokenizer import IMG_CONTEXT_TOKEN, IMG_END_TOKEN, IMG_START_TOKEN

__all__ = ["EncodedConversation", "encode_conversation", "expand_image_tags"]

IGNORE_INDEX = -100


@dataclass
class EncodedConversation:
    """Token ids and labels of one conversation.

    Attributes:
        input_ids: Token ids.
        labels: Same length; the token id inside answers, ``-100`` elsewhere.
    """

    input_ids: list[int]
    labels: list[int]


def expand_image_tags(text: str, tokens_per_image: Sequence[int], start: int = 0) -> str:
    """Replace each ``<image>`` tag with ``<img>`` + n x ``<IMG_CONTEXT>`` + ``</img>``.

    Args:
        text: A user message.
        tokens_per_image: Visual token count of every image of the record.
        start: Index of the first image this text refers to.

    Returns:
        The expanded text.
    """
    pieces = text.split(IMAGE_TAG)
    out = [pieces[0]]
    for offset, piece in enumerate(pieces[1:]):
        count = tokens_per_image[start + offset]
        out.append(IMG_START_TOKEN + IMG_CONTEXT_TOKEN * count + IMG_END_TOKEN + piece)
    return "".join(out)


def _messages(turns: Sequence[ConversationTurn], tokens_per_image: Sequence[int]) -> list[dict]:
    messages, image_index = [], 0
    for turn in turns:
        text = turn.text
        if turn.role == "user":
            text = expand_image_tags(text, tokens_per_image, image_index)
            image_index += turn.text.count(IMAGE_TAG)
        messages.append({"role": turn.role, "content": text})
    return messages


def _render(tokenizer: PreTrainedTokenizerBase, messages: list[dict], prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt)


def _strip_trailing_space(text: str, start: int, end: int) -> int:
    r"""End of ``text[start:end]`` without trailing whitespace (the ``\n`` after ``<|im_end|>``)."""
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


def _answer_spans(tokenizer: PreTrainedTokenizerBase, messages: list[dict]) -> tuple[str, list]:
    full = _render(tokenizer, messages, prompt=False)
    spans = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = len(_render(tokenizer, messages[:index], prompt=True))
        end = len(_render(tokenizer, messages[: index + 1], prompt=False))
        if not full.startswith(_render(tokenizer, messages[: index + 1], prompt=False)):
            raise ValueError("the chat template does not render conversations prefix by prefix.")
        spans.append((start, _strip_trailing_space(full, start, end)))
    return full, spans


def encode_conversation(
    tokenizer: PreTrainedTokenizerBase,
    turns: Sequence[ConversationTurn],
    tokens_per_image: Sequence[int],
) -> EncodedConversation:
    """Tokenise a conversation with answer-only labels.

    Args:
        tokenizer: A tokenizer with a chat template and the image tokens.
        turns: The conversation (``<image>`` tags in user turns).
        tokens_per_image: Visual tokens of each image, in tag order.

    Returns:
        Ids and labels of equal length.
    """
    full, spans = _answer_spans(tokenizer, _messages(turns, tokens_per_image))
    input_ids: list[int] = []
    labels: list[int] = []
    cursor = 0
    for start, end in [*spans, (len(full), len(full))]:
        for text, is_answer in ((full[cursor:start], False), (full[start:end], True)):
            if not text:
                continue
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            input_ids.extend(ids)
            labels.extend(ids if is_answer else [IGNORE_INDEX] * len(ids))
        cursor = end
    return EncodedConversation(input_ids, labels)
