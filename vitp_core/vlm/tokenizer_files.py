"""Tokenizer folders that both current and older Hugging Face stacks read.

``save_pretrained`` of transformers 5 / tokenizers 0.23 writes ``tokenizer.json`` and a
``tokenizer_config.json`` that the stack the official ViTP/InternVL code pins
(transformers 4.37.2, tokenizers 0.15.2) cannot read: BPE merges are stored as pairs
(``[["Ġ", "t"], ...]``, which tokenizers < 0.20 rejects), vitp's own tokenizers are
named ``TokenizersBackend`` (a class 4.37 does not have), the special tokens are listed
as ``extra_special_tokens`` and the chat template lives in ``chat_template.jinja``.

:func:`write_tokenizer_files` saves the tokenizer and then makes the folder readable by
both: merges in the classic ``"Ġ t"`` string form (which tokenizers 0.23 reads too),
``PreTrainedTokenizerFast`` as the class name (an alias of ``TokenizersBackend`` in
transformers 5), ``additional_special_tokens`` and ``chat_template`` in
``tokenizer_config.json``, and the classic slow-tokenizer files next to them:

    vocab.json                 the BPE vocabulary (token -> id)
    merges.txt                 ``#version: 0.2`` then one ``left right`` merge per line
    added_tokens.json          tokens added on top of the vocabulary (token -> id)
    special_tokens_map.json    eos/pad/bos/unk and ``additional_special_tokens``

Classic ``vocab.json``/``merges.txt`` exist only for BPE models (Qwen2, vitp's byte and
corpus tokenizers); a WordPiece or Unigram tokenizer keeps its ``tokenizer.json`` alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizerBase

from vitp_core.atomic_io import atomic_write_json, atomic_write_text

__all__ = ["LEGACY_TOKENIZER_FILES", "write_legacy_tokenizer_files", "write_tokenizer_files"]

#: The classic files written next to ``tokenizer.json`` for BPE tokenizers.
LEGACY_TOKENIZER_FILES = (
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "special_tokens_map.json",
)
#: Class names transformers 5 writes that transformers 4.x does not know -> the 4.x name.
_CLASS_ALIASES = {"TokenizersBackend": "PreTrainedTokenizerFast"}
_NAMED_SPECIALS = ("bos_token", "eos_token", "unk_token", "pad_token")


def _legacy_merges(merges: list[Any]) -> list[str] | None:
    """Merges as ``"left right"`` strings, or ``None`` when a part holds a space."""
    out = []
    for merge in merges:
        if isinstance(merge, str):
            out.append(merge)
            continue
        left, right = merge
        if " " in left or " " in right:
            return None
        out.append(f"{left} {right}")
    return out


def _bpe_files(folder: Path, backend: dict[str, Any]) -> None:
    model = backend["model"]
    merges = _legacy_merges(model.get("merges", []))
    if merges is None:
        return  # a merge with a space cannot be written in the classic format
    model["merges"] = merges
    atomic_write_text(folder / "tokenizer.json", json.dumps(backend, ensure_ascii=False, indent=2))
    atomic_write_json(folder / "vocab.json", model["vocab"])
    atomic_write_text(folder / "merges.txt", "#version: 0.2\n" + "".join(m + "\n" for m in merges))


def _special_tokens(config: dict[str, Any], backend: dict[str, Any]) -> dict[str, Any]:
    named = {k: config[k] for k in _NAMED_SPECIALS if isinstance(config.get(k), str)}
    listed = config.get("extra_special_tokens") or config.get("additional_special_tokens") or []
    extra = [t for t in listed if isinstance(t, str)]
    for token in backend.get("added_tokens", []):
        if token.get("special") and token["content"] not in (*named.values(), *extra):
            extra.append(token["content"])
    return {**named, "additional_special_tokens": extra}


def write_legacy_tokenizer_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Make a ``save_pretrained`` tokenizer folder readable by transformers 4.37 too.

    Args:
        folder: A folder with ``tokenizer.json`` and ``tokenizer_config.json``.

    Returns:
        The classic files that now exist in ``folder``.
    """
    folder = Path(folder)
    backend_path = folder / "tokenizer.json"
    config_path = folder / "tokenizer_config.json"
    if not backend_path.is_file() or not config_path.is_file():
        return []
    backend = json.loads(backend_path.read_text(encoding="utf-8"))
    config = json.loads(config_path.read_text(encoding="utf-8"))
    model = backend.get("model") or {}
    if model.get("type") == "BPE":
        _bpe_files(folder, backend)
    vocab = model.get("vocab") if isinstance(model.get("vocab"), dict) else {}
    added = {
        t["content"]: t["id"] for t in backend.get("added_tokens", []) if t["content"] not in vocab
    }
    atomic_write_json(folder / "added_tokens.json", added)
    specials = _special_tokens(config, backend)
    atomic_write_json(folder / "special_tokens_map.json", specials)
    config["tokenizer_class"] = _CLASS_ALIASES.get(
        config.get("tokenizer_class"), config.get("tokenizer_class")
    )
    config["additional_special_tokens"] = specials["additional_special_tokens"]
    template = folder / "chat_template.jinja"
    if template.is_file() and "chat_template" not in config:
        config["chat_template"] = template.read_text(encoding="utf-8")
    atomic_write_json(config_path, config)
    return [folder / name for name in LEGACY_TOKENIZER_FILES if (folder / name).is_file()]


def write_tokenizer_files(
    tokenizer: PreTrainedTokenizerBase, folder: str | os.PathLike[str]
) -> Path:
    """``save_pretrained`` plus the classic files (see the module docstring).

    Args:
        tokenizer: Any Hugging Face tokenizer.
        folder: Target folder (created; files of the same names are replaced).

    Returns:
        ``folder`` as a path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(folder))
    write_legacy_tokenizer_files(folder)
    return folder
