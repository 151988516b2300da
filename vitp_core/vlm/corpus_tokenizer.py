"""A byte-level BPE tokenizer trained on an instruction corpus, fully offline.

The built-in byte tokenizer needs no training but spends one token per byte: a short
templated question and answer becomes hundreds of tokens, so a small LM trained from
scratch spends most of its steps learning to spell. A BPE trained on the corpus's own
text (``tokenizers``' trainer, byte-level so any text still round-trips) turns the
templates and class names into a few tokens each. It is saved as an ordinary Hugging Face
tokenizer folder, so ``vitp pretrain --model.tokenizer DIR`` and ``load_tokenizer(DIR)``
use it like any other.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from vitp_core.corpus.reader import iter_corpus
from vitp_core.corpus.records import BadRecordError
from vitp_core.vlm.tokenizer import (
    IM_END_TOKEN,
    IM_START_TOKEN,
    IMAGE_TOKENS,
    PAD_TOKEN,
    save_tokenizer,
    wrap_chatml_tokenizer,
)

__all__ = ["corpus_texts", "register", "train_corpus_tokenizer"]

#: The chat markers and role names of every rendered conversation, fed to the trainer
#: so that they become single tokens even when the corpus text never spells them.
_TEMPLATE_TEXTS = ("system\n", "user\n", "assistant\n", "<image>\n")
_SPECIAL_TOKENS = (PAD_TOKEN, IM_END_TOKEN, IM_START_TOKEN, *IMAGE_TOKENS)


def corpus_texts(corpus: str | os.PathLike[str]) -> Iterator[str]:
    """Yield the text of every turn of every usable record of a corpus, once.

    Args:
        corpus: A ``.jsonl`` corpus or a mixture ``.json``.

    Yields:
        Turn texts (questions and answers), in file order; bad records are skipped.
    """
    for record in iter_corpus(corpus):
        if isinstance(record, BadRecordError):
            continue
        for turn in record.turns:
            yield turn.text


def train_corpus_tokenizer(
    texts: Iterable[str], vocab_size: int = 2048, min_frequency: int = 2
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``texts`` with ViTP's special tokens and ChatML.

    Args:
        texts: Training text (e.g. :func:`corpus_texts`); read once.
        vocab_size: Target vocabulary size, special and byte tokens included.
        min_frequency: A merge must occur at least this often.

    Returns:
        A fast tokenizer with pad, ChatML and image tokens and the ChatML chat template.

    Raises:
        ValueError: If ``vocab_size`` cannot hold the 256 bytes and the special tokens.
    """
    floor = 256 + len(_SPECIAL_TOKENS)
    if vocab_size < floor:
        raise ValueError(f"vocab_size must be at least {floor} (bytes + special tokens).")
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )

    def _stream() -> Iterator[str]:
        yield from _TEMPLATE_TEXTS * max(min_frequency, 1)
        yield from texts

    backend.train_from_iterator(_stream(), trainer=trainer)
    return wrap_chatml_tokenizer(backend)


def _run(args: argparse.Namespace) -> int:
    tokenizer = train_corpus_tokenizer(
        corpus_texts(args.corpus), args.vocab_size, args.min_frequency
    )
    out = save_tokenizer(tokenizer, args.out)
    print(f"tokenizer: {out} ({len(tokenizer)} tokens); use it with --model.tokenizer {out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tokenizer`` sub-command (``vitp tokenizer CORPUS --out DIR``)."""
    parser = subparsers.add_parser(
        "tokenizer", help="Train a byte-level BPE tokenizer on a corpus's text."
    )
    parser.add_argument("corpus", help="A .jsonl corpus or a mixture .json.")
    parser.add_argument("--out", required=True, help="Tokenizer folder to write.")
    parser.add_argument("--vocab-size", type=int, default=2048, help="Target vocabulary size.")
    parser.add_argument(
        "--min-frequency", type=int, default=2, help="Least occurrences of a merged pair."
    )
    parser.set_defaults(func=_run)
