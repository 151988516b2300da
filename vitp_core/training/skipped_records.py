"""Records skipped during training, counted exactly across DDP ranks and resumes.

Each rank meets its own share of the corpus, so each rank skips its own bad records.
Before a checkpoint is written and before the end-of-run reports, every rank's records
are gathered and merged by their ``file:line`` key (a record met by several ranks, or
before and after a resume, counts once). The checkpoint then holds all of them, so a
resume on any number of ranks restores them all, and ``bad_records.jsonl`` and
``run_summary.json`` list every rank's. In a single process the gather is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch.distributed as dist

from vitp_core.corpus.records import BadRecordError, RecordSource

__all__ = [
    "gather_skipped_records",
    "merge_skipped_records",
    "skipped_from_state",
    "skipped_key",
    "skipped_to_state",
]


def skipped_key(error: BadRecordError) -> str:
    """The key a skipped record counts once under: its ``file:line``."""
    return str(error.source)


def merge_skipped_records(*groups: Iterable[BadRecordError]) -> dict[str, BadRecordError]:
    """Merge groups of skipped records by ``file:line``, each record once.

    The first group to name a record keeps it (its reason and its place in the order), so
    every rank merging the same gathered groups in rank order gets the same result.
    """
    merged: dict[str, BadRecordError] = {}
    for group in groups:
        for error in group:
            merged.setdefault(skipped_key(error), error)
    return merged


def gather_skipped_records(
    skipped: Mapping[str, BadRecordError],
) -> dict[str, BadRecordError]:
    """Every rank's skipped records, merged; the same on every rank.

    A collective: under ``torch.distributed`` every rank must call it at the same point.
    Without an initialised process group (a single process) it returns a copy.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return dict(skipped)
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, skipped_to_state(skipped.values()))
    return merge_skipped_records(*(skipped_from_state(state or []) for state in gathered))


def skipped_to_state(errors: Iterable[BadRecordError]) -> list[dict[str, Any]]:
    """Plain, picklable entries (``path``, ``line``, ``reason``) of skipped records."""
    return [
        {
            "path": error.source.path if error.source else "",
            "line": error.source.line if error.source else 0,
            "reason": error.reason,
        }
        for error in errors
    ]


def skipped_from_state(items: Iterable[Mapping[str, Any]]) -> list[BadRecordError]:
    """Skipped records back from :func:`skipped_to_state` entries."""
    errors = []
    for item in items:
        source = RecordSource(item["path"], int(item["line"])) if item["path"] else None
        errors.append(BadRecordError(source, item["reason"]))
    return errors
