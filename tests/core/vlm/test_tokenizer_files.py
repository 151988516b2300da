"""Exported tokenizer folders: read back by transformers 5 and in the layout transformers
4.37 / tokenizers 0.15 (the official ViTP stack) reads: classic-format merges, a class name
4.37 knows, and vocab.json/merges.txt/added_tokens.json/special_tokens_map.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerBase, Qwen2Tokenizer

from vitp_core.vlm.corpus_tokenizer import train_corpus_tokenizer
from vitp_core.vlm.tokenizer import build_byte_tokenizer, load_tokenizer, save_tokenizer
from vitp_core.vlm.tokenizer_files import LEGACY_TOKENIZER_FILES, write_legacy_tokenizer_files

TEXT = (
    "<|im_start|>user\nA harbour  with 12 ships,\n\nwheat<IMG_CONTEXT><img></img> é 漢<|im_end|>\n"
)
#: Tokenizer classes of transformers 4.37 that read a byte-level BPE folder.
CLASSES_4_37 = {"PreTrainedTokenizerFast", "Qwen2Tokenizer", "Qwen2TokenizerFast", "GPT2Tokenizer"}


def _qwen2_tokenizer() -> PreTrainedTokenizerBase:
    """A Qwen2 tokenizer with real merges and InternVL2.5's added special tokens."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    merges = [("Ġ", "h"), ("a", "r"), ("Ġh", "ar"), ("s", "h"), ("Ġ", "w")]
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    for left, right in merges:
        vocab[left + right] = len(vocab)
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tokenizer.add_special_tokens(
        {"additional_special_tokens": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]}
    )
    tokenizer.add_tokens(
        ["<img>", "</img>", "<IMG_CONTEXT>", "<ref>", "</ref>"], special_tokens=True
    )
    return tokenizer


TOKENIZERS = {
    "bytes": build_byte_tokenizer,
    "corpus_bpe": lambda: train_corpus_tokenizer(
        ["a harbour with two ships", "a field of wheat and a road 12"] * 10, vocab_size=300
    ),
    "qwen2": _qwen2_tokenizer,
}


@pytest.fixture(scope="module", params=sorted(TOKENIZERS))
def saved(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    tokenizer = TOKENIZERS[request.param]()
    folder = save_tokenizer(tokenizer, tmp_path_factory.mktemp("tok") / request.param)
    return tokenizer, folder


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_folder_has_the_classic_files_and_a_4_37_class(saved: tuple) -> None:
    tokenizer, folder = saved
    for name in (*LEGACY_TOKENIZER_FILES, "tokenizer.json", "tokenizer_config.json"):
        assert (folder / name).is_file(), name
    config = _json(folder / "tokenizer_config.json")
    assert config["tokenizer_class"] in CLASSES_4_37
    # 4.37 reads the chat template here, not from chat_template.jinja.
    assert config.get("chat_template") == tokenizer.chat_template
    merges = _json(folder / "tokenizer.json")["model"]["merges"]
    # tokenizers < 0.20 reads merges only as "left right" strings.
    assert all(isinstance(m, str) and len(m.split(" ")) == 2 for m in merges)
    lines = (folder / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("#version") and lines[1:] == merges


def test_classic_files_rebuild_the_same_ids(saved: tuple) -> None:
    tokenizer, folder = saved
    classic = Tokenizer.from_file(str(folder / "tokenizer.json"))  # pre-tokenizer and decoder
    classic.model = models.BPE.from_file(str(folder / "vocab.json"), str(folder / "merges.txt"))
    added = _json(folder / "added_tokens.json")
    for token, index in sorted(added.items(), key=lambda item: item[1]):
        assert classic.add_special_tokens([token]) in (0, 1)
        assert classic.token_to_id(token) == index
    expected = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    assert classic.encode(TEXT, add_special_tokens=False).ids == expected
    specials = _json(folder / "special_tokens_map.json")
    assert (specials["eos_token"], specials["pad_token"]) == ("<|im_end|>", "<|endoftext|>")
    listed = {specials["eos_token"], specials["pad_token"], *specials["additional_special_tokens"]}
    assert {"<|im_start|>", "<img>", "</img>", "<IMG_CONTEXT>"} <= listed


def test_transformers_5_reads_it_back_unchanged(saved: tuple) -> None:
    tokenizer, folder = saved
    again = load_tokenizer(str(folder))
    assert again(TEXT)["input_ids"] == tokenizer(TEXT)["input_ids"]
    assert again.decode(again(TEXT)["input_ids"]) == TEXT
    assert (again.pad_token, again.eos_token, len(again)) == (
        tokenizer.pad_token,
        tokenizer.eos_token,
        len(tokenizer),
    )
    if tokenizer.chat_template:
        assert again.chat_template == tokenizer.chat_template


def test_rewriting_is_idempotent(saved: tuple) -> None:
    _, folder = saved
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    write_legacy_tokenizer_files(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
