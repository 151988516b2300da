"""Instruction corpora: the InternVL/LLaVA conversation JSONL format, mixtures, builders."""

from vitp_core.corpus.reader import CorpusEntry, iter_corpus, read_corpus
from vitp_core.corpus.records import (
    BadRecordError,
    ConversationTurn,
    InstructionRecord,
    RecordSource,
    parse_record,
)

__all__ = [
    "BadRecordError",
    "ConversationTurn",
    "CorpusEntry",
    "InstructionRecord",
    "RecordSource",
    "iter_corpus",
    "parse_record",
    "read_corpus",
]
