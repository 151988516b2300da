"""The corpus-trained BPE tokenizer: shorter sequences, same chat rendering, offline."""

from __future__ import annotations

from pathlib import Path

from tiny_data import write_tiny_corpus

from vitp_core.cli import main
from vitp_core.corpus.records import ConversationTurn
from vitp_core.vlm.chat import encode_conversation
from vitp_core.vlm.corpus_tokenizer import corpus_texts, train_corpus_tokenizer
from vitp_core.vlm.tokenizer import (
    IMG_CONTEXT_TOKEN,
    build_byte_tokenizer,
    load_tokenizer,
    save_tokenizer,
)

TEXTS = ["What colour is this scene?", "The scene is red.", "The scene is green."] * 20


def test_corpus_texts_reads_every_turn(tmp_path: Path) -> None:
    corpus = write_tiny_corpus(tmp_path, n=3)
    texts = list(corpus_texts(corpus))
    assert texts[:2] == ["<image>\nWhat colour is this?", "blue"]
    assert len(texts) == 6


def test_trained_tokenizer_shortens_and_round_trips() -> None:
    tokenizer = train_corpus_tokenizer(TEXTS, vocab_size=400)
    byte_level = build_byte_tokenizer()
    text = "The scene is red. Ünïcode and digits 123 still round-trip."
    ids = tokenizer(text).input_ids
    assert tokenizer.decode(ids) == text
    assert (
        len(tokenizer("The scene is green.").input_ids)
        < len(byte_level("The scene is green.").input_ids) / 3
    )
    for token in ("<|im_start|>", "<|im_end|>", IMG_CONTEXT_TOKEN, "<img>", "</img>"):
        assert len(tokenizer(token, add_special_tokens=False).input_ids) == 1


def test_answer_mask_matches_the_byte_tokenizer(tmp_path: Path) -> None:
    tokenizer = train_corpus_tokenizer(TEXTS, vocab_size=400)
    turns = [
        ConversationTurn("user", "<image>\nWhat colour?"),
        ConversationTurn("assistant", "red"),
    ]
    encoded = encode_conversation(tokenizer, turns, [4])
    answer = [t for t, label in zip(encoded.input_ids, encoded.labels, strict=True) if label >= 0]
    assert tokenizer.decode(answer).startswith("red")
    context = tokenizer.convert_tokens_to_ids(IMG_CONTEXT_TOKEN)
    assert encoded.input_ids.count(context) == 4


def test_saved_folder_loads_offline(tmp_path: Path) -> None:
    tokenizer = train_corpus_tokenizer(TEXTS, vocab_size=400)
    folder = save_tokenizer(tokenizer, tmp_path / "tok")
    save_tokenizer(tokenizer, folder)  # replacing an existing folder works
    loaded = load_tokenizer(str(folder))
    assert loaded.get_vocab() == tokenizer.get_vocab()
    assert loaded.chat_template == tokenizer.chat_template
    assert [p.name for p in tmp_path.iterdir()] == ["tok"]  # no staging folder left


def test_cli_trains_and_saves(tmp_path: Path, capsys) -> None:
    corpus = write_tiny_corpus(tmp_path / "c", n=6)
    assert (
        main(["tokenizer", str(corpus), "--out", str(tmp_path / "tok"), "--vocab-size", "300"]) == 0
    )
    assert "--model.tokenizer" in capsys.readouterr().out
    assert len(load_tokenizer(str(tmp_path / "tok"))) <= 300
