from vitp_core.corpus.records import ConversationTurn
from vitp_core.vlm.chat import encode_conversation
from vitp_core.vlm.tokenizer import IMG_CONTEXT_TOKEN, build_byte_tokenizer


def _labelled_text(tokenizer, encoded) -> str:
    pairs = zip(encoded.input_ids, encoded.labels, strict=True)
    return tokenizer.decode([i for i, lab in pairs if lab != -100])


def test_only_answer_tokens_carry_labels() -> None:
    tokenizer = build_byte_tokenizer()
    turns = [
        ConversationTurn("system", "Be brief."),
        ConversationTurn("user", "<image>\nWhat is this?"),
        ConversationTurn("assistant", "A harbour."),
        ConversationTurn("user", "Any ships?"),
        ConversationTurn("assistant", "Two."),
    ]
    encoded = encode_conversation(tokenizer, turns, [5])
    assert len(encoded.input_ids) == len(encoded.labels)
    assert _labelled_text(tokenizer, encoded) == "A harbour.<|im_end|>\nTwo.<|im_end|>\n"
    context = tokenizer.convert_tokens_to_ids(IMG_CONTEXT_TOKEN)
    assert encoded.input_ids.count(context) == 5
    pairs = zip(encoded.input_ids, encoded.labels, strict=True)
    assert all(lab == -100 for i, lab in pairs if i == context)


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
