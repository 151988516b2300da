"""Instruction corpora: the InternVL/LLaVA conversation JSONL format, mixtures, builders.

Reading: :func:`read_corpus` / :func:`iter_corpus` (a ``.jsonl`` or a mixture ``.json``),
images through :func:`load_image`. Writing: the builders in
:mod:`vitp_core.corpus.builders` (one per native dataset form), all through
:class:`CorpusWriter`. Checking: :func:`validate_corpus`. The synthetic demo corpus:
:func:`vitp_core.corpus.demo.build_demo_corpus`.
"""

from vitp_core.corpus.images import ImageReadError, load_image
from vitp_core.corpus.reader import CorpusEntry, iter_corpus, read_corpus, read_mixture
from vitp_core.corpus.records import (
    BadRecordError,
    ConversationTurn,
    InstructionRecord,
    RecordSource,
    parse_record,
)
from vitp_core.corpus.validate import ValidationReport, validate_corpus
from vitp_core.corpus.writer import BuildReport, CorpusWriter

__all__ = [
    "BadRecordError",
    "BuildReport",
    "ConversationTurn",
    "CorpusEntry",
    "CorpusWriter",
    "ImageReadError",
    "InstructionRecord",
    "RecordSource",
    "ValidationReport",
    "iter_corpus",
    "load_image",
    "parse_record",
    "read_corpus",
    "read_mixture",
    "validate_corpus",
]
