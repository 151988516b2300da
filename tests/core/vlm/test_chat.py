from collections.abc import Sequence

import pytest

from vitp_core.checkpoints.internvl_template import INTERNVL2_5_CHAT_TEMPLATE
from vitp_core.corpus.records import ConversationTurn
from vitp_core.vlm.chat import encode_conversation, expand_image_tags
from vitp_core.vlm.tokenizer import IMG_CONTEXT_TOKEN, build_byte_tokenizer

IGNORE = -100


def _labelled_text(tokenizer, encoded) -> str:
    pairs = zip(encoded.input_ids, encoded.labels, strict=True)
    return tokenizer.decode([i for i, lab in pairs if lab != IGNORE])


def _official_labels(
    tokenizer, turns: Sequence[ConversationTurn], tokens_per_image: Sequence[int], system: str
) -> tuple[list[int], list[int]]:
    """InternVL2.5's ``preprocess_internvl2_5`` rule, restated: one ChatML string per turn,
    each tokenised alone; user/system turns are ignored, an assistant turn is supervised
    except its ``<|im_start|>assistant\\n`` header and its last token (the ``\\n``)."""
    if turns[0].role == "system":
        system, turns = turns[0].text, turns[1:]
    pieces = [("system", f"<|im_start|>system\n{system}<|im_end|>\n")]
    image = 0
    for turn in turns:
        text = turn.text
        if turn.role == "user":
            text = expand_image_tags(text, tokens_per_image, image)
            image += turn.text.count("<image>")
        pieces.append((turn.role, f"<|im_start|>{turn.role}\n{text}<|im_end|>\n"))
    header = len(tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"])
    ids, labels = [], []
    for role, text in pieces:
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        target = [IGNORE] * len(piece)
        if role == "assistant":
            target = [IGNORE] * header + piece[header:-1] + [IGNORE]
        ids += piece
        labels += target
    return ids, labels


CONVERSATIONS = {
    "single": (
        [
            ConversationTurn("user", "<image>\nWhat is this?"),
            ConversationTurn("assistant", "A field."),
        ],
        [4],
    ),
    "system": (
        [
            ConversationTurn("system", "Be brief."),
            ConversationTurn("user", "<image>\nWhat is this?"),
            ConversationTurn("assistant", "A harbour."),
            ConversationTurn("user", "Any ships?"),
            ConversationTurn("assistant", "Two.\n"),
        ],
        [3],
    ),
    "two images": (
        [
            ConversationTurn("user", "Before: <image> after: <image>\nWhat changed?"),
            ConversationTurn("assistant", "A new building.\nNothing else."),
        ],
        [2, 5],
    ),
}


@pytest.mark.parametrize("name", sorted(CONVERSATIONS))
@pytest.mark.parametrize("template", ["chatml", "internvl2_5"])
def test_labels_match_the_official_preprocessing(name: str, template: str) -> None:
    tokenizer = build_byte_tokenizer()
    system = ""
    if template == "internvl2_5":
        tokenizer.chat_template = INTERNVL2_5_CHAT_TEMPLATE
        from vitp_core.checkpoints.internvl_template import INTERNVL2_5_SYSTEM_MESSAGE

        system = INTERNVL2_5_SYSTEM_MESSAGE
    turns, counts = CONVERSATIONS[name]
    if template == "chatml" and turns[0].role != "system":
        turns = [ConversationTurn("system", "You are helpful."), *turns]
    encoded = encode_conversation(tokenizer, turns, counts)
    ids, labels = _official_labels(tokenizer, turns, counts, system)
    assert encoded.input_ids == ids
    assert encoded.labels == labels


def test_only_answer_tokens_carry_labels() -> None:
    tokenizer = build_byte_tokenizer()
    turns = CONVERSATIONS["system"][0]
    encoded = encode_conversation(tokenizer, turns, [5])
    assert len(encoded.input_ids) == len(encoded.labels)
    # The answer and <|im_end|> are targets; the "\n" after <|im_end|> is not (the official
    # span); a "\n" inside or at the end of an answer's own text still is.
    assert _labelled_text(tokenizer, encoded) == "A harbour.<|im_end|>Two.\n<|im_end|>"
    newline = tokenizer("\n", add_special_tokens=False)["input_ids"][0]
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    after_end = [encoded.labels[i + 1] for i, t in enumerate(encoded.input_ids[:-1]) if t == end]
    assert encoded.input_ids[-1] == newline and encoded.labels[-1] == IGNORE
    assert set(after_end) == {IGNORE}
    context = tokenizer.convert_tokens_to_ids(IMG_CONTEXT_TOKEN)
    assert encoded.input_ids.count(context) == 5
    pairs = zip(encoded.input_ids, encoded.labels, strict=True)
    assert all(lab == IGNORE for i, lab in pairs if i == context)


def test_multi_image_tags_expand_in_order() -> None:
    tokenizer = build_byte_tokenizer()
    turns = [
        ConversationTurn("user", "Before: <image> after: <image>\nWhat changed?"),
        ConversationTurn("assistant", "A new building."),
    ]
    encoded = encode_conversation(tokenizer, turns, [2, 3])
    text = tokenizer.decode(encoded.input_ids)
    assert (
        "Before: <img>" + IMG_CONTEXT_TOKEN * 2 + "</img> after: <img>" + IMG_CONTEXT_TOKEN * 3
        in text
    )
