"""`vitp corpus optimize`: a corpus written as LitData shards from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_data import write_tiny_corpus

from vitp_core.cli import main

pytest.importorskip(
    "litdata", reason="streamed shards need the scale extra: pip install 'vitp[scale]'"
)


def test_optimize_writes_shards_that_read_mixture_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from vitp_core.corpus.reader import read_mixture
    from vitp_core.corpus.shards import read_manifest

    corpus = write_tiny_corpus(tmp_path / "c", n=6, size=8)
    with corpus.open("a") as handle:
        handle.write("{not json\n")  # line 7
    out = tmp_path / "shards"
    assert main(["corpus", "optimize", str(corpus), "--out", str(out), "--chunk-records", "4"]) == 0
    said = capsys.readouterr().out
    assert "wrote 6 items (6 records)" in said and "1 bad record(s) left out" in said
    assert f"--data.corpus {out}" in said
    assert read_manifest(out).items == 6
    assert [e.annotation for e in read_mixture(out)] == [corpus.resolve()]
    # never written over: one line naming the folder
    assert main(["corpus", "optimize", str(corpus), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and str(out) in error and "not empty" in error


def test_optimize_workers_below_one_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    corpus = write_tiny_corpus(tmp_path / "c", n=2, size=8)
    out = tmp_path / "shards"
    assert main(["corpus", "optimize", str(corpus), "--out", str(out), "--workers", "0"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "workers must be 1 or more" in error
    assert not out.exists()
