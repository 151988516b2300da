"""bench/corpus_scale.py: its corpus, its loader measure and its targets, at a tiny size."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import corpus_scale

pytest.importorskip("litdata", reason="streamed shards need the scale extra")


def test_generated_corpus_streams_and_is_measured(tmp_path: Path) -> None:
    from vitp_core.corpus.reader import read_corpus
    from vitp_core.corpus.shards import optimize_corpus

    corpus = corpus_scale.write_corpus(tmp_path / "c", 60, images=4, size=16)
    records, bad = read_corpus(corpus)
    assert len(records) == 60 and not bad and len({r.id for r in records}) == 60
    optimize_corpus(corpus, tmp_path / "shards", chunk_size=16)
    result = corpus_scale.measure(tmp_path / "shards", workers=0, batch_size=4, batches=3)
    # 4 batches of 4 items; held-out and validation items are passed over, not loaded
    assert 0 < result["records_loaded"] <= 16 and result["bad_in_batches"] == 0
    assert result["peak_rss_with_workers_mb"] >= result["peak_rss_main_mb"] > 0
    assert result["first_batch_s"] > 0 and result["held_out"] == 12  # a fifth of 60


def test_targets_compare_1m_with_10k() -> None:
    rows = [
        {"records": 10_000, "peak_rss_with_workers_mb": 1000.0, "first_batch_s": 2.0},
        {"records": 1_000_000, "peak_rss_with_workers_mb": 1100.0, "first_batch_s": 4.0},
    ]
    targets = corpus_scale._targets(rows)
    assert targets["peak_rss_ratio_1m_vs_10k"] == pytest.approx(1.1)
    assert targets["peak_rss_ratio_met"] and targets["first_batch_s_met"]
    assert corpus_scale._targets(rows[:1])["first_batch_s_1m"] is None  # 1M not run
