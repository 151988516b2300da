"""Skipped records counted exactly across DDP ranks and resumes (issue 16, item 3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from tiny_data import write_tiny_corpus
from tiny_runs import pretrain_subprocess, tiny_module

from vitp_core.corpus.records import BadRecordError, RecordSource
from vitp_core.training import skipped_records
from vitp_core.training.artifacts import RunArtifacts
from vitp_core.training.module import CHECKPOINT_KEY
from vitp_core.training.skipped_records import (
    gather_skipped_records,
    merge_skipped_records,
    skipped_from_state,
    skipped_to_state,
)


def _bad(path: str, line: int, reason: str = "image unusable") -> BadRecordError:
    return BadRecordError(RecordSource(path, line), reason)


def test_merge_counts_a_record_once_by_file_and_line() -> None:
    rank0 = [_bad("a.jsonl", 3), _bad("a.jsonl", 7)]
    rank1 = [_bad("a.jsonl", 7, "another reason"), _bad("b.jsonl", 3)]
    merged = merge_skipped_records(rank0, rank1)
    assert list(merged) == ["a.jsonl:3", "a.jsonl:7", "b.jsonl:3"]
    assert merged["a.jsonl:7"].reason == "image unusable"  # the first rank to name it
    assert merge_skipped_records() == {}


def test_state_round_trip_keeps_file_line_and_reason() -> None:
    errors = [_bad("a.jsonl", 3, "not valid JSON"), BadRecordError(None, "no source")]
    back = skipped_from_state(skipped_to_state(errors))
    assert [(str(e.source), e.reason) for e in back] == [
        ("a.jsonl:3", "not valid JSON"),
        ("None", "no source"),
    ]


def test_gather_in_one_process_is_a_copy() -> None:
    skipped = {"a.jsonl:3": _bad("a.jsonl", 3)}
    gathered = gather_skipped_records(skipped)
    assert gathered == skipped and gathered is not skipped


class _FakeWorld:
    """``torch.distributed`` of rank 0 in a world of two, rank 1 having skipped ``other``."""

    def __init__(self, other: list[BadRecordError]) -> None:
        self.other = skipped_to_state(other)
        self.calls = 0

    def is_available(self) -> bool:
        return True

    def is_initialized(self) -> bool:
        return True

    def get_world_size(self) -> int:
        return 2

    def all_gather_object(self, out: list[Any], obj: Any) -> None:
        self.calls += 1
        out[0], out[1] = obj, self.other


def test_checkpoint_and_reports_hold_every_rank_s_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = _FakeWorld([_bad("c.jsonl", 2), _bad("c.jsonl", 9)])
    monkeypatch.setattr(skipped_records, "dist", world)
    module = tiny_module()
    module.skipped_records = {"c.jsonl:9": _bad("c.jsonl", 9), "c.jsonl:4": _bad("c.jsonl", 4)}
    checkpoint: dict[str, Any] = {}
    module.on_save_checkpoint(checkpoint)
    saved = [f"{x['path']}:{x['line']}" for x in checkpoint[CHECKPOINT_KEY]["skipped_records"]]
    assert saved == ["c.jsonl:9", "c.jsonl:4", "c.jsonl:2"]
    # a resume restores all of them, whichever rank reads the checkpoint
    monkeypatch.setattr(skipped_records, "dist", torch.distributed)
    resumed = tiny_module()
    resumed.on_load_checkpoint(checkpoint)
    assert set(resumed.skipped_records) == {"c.jsonl:2", "c.jsonl:4", "c.jsonl:9"}


class _Trainer:
    """What RunArtifacts reads of a trainer on a rank other than 0."""

    is_global_zero = False


def test_every_rank_takes_part_in_the_gather_and_only_rank_0_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = _FakeWorld([_bad("c.jsonl", 2)])
    monkeypatch.setattr(skipped_records, "dist", world)
    module = tiny_module()
    module.skipped_records = {"c.jsonl:4": _bad("c.jsonl", 4)}
    RunArtifacts(run_dir=str(tmp_path / "run")).on_train_end(_Trainer(), module)  # type: ignore[arg-type]
    assert world.calls == 1 and set(module.skipped_records) == {"c.jsonl:4", "c.jsonl:2"}
    assert not (tmp_path / "run").exists()


SEEN = """
import json, os
from pathlib import Path
import lightning as L

class SeenSkipped(L.Callback):
    '''Write the records this rank skipped, as it met them, to seen-rank<N>.json.'''

    def __init__(self):
        self.seen = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.seen += [str(e.source) for e in batch.skipped]

    def on_train_end(self, trainer, pl_module):
        out = Path(os.environ["SEEN_DIR"]) / f"seen-rank{trainer.global_rank}.json"
        out.write_text(json.dumps(self.seen))
"""


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["jsonl", "shards"])
def test_two_ddp_ranks_report_every_skipped_record_once(tmp_path: Path, layout: str) -> None:
    # 25 records, one of two images broken (after `optimize` for shards): each rank meets
    # its own bad records; on JSONL the distributed sampler pads the odd count with a
    # record that both ranks meet
    corpus = write_tiny_corpus(tmp_path / "tiny", n=25, size=16)
    data = corpus
    if layout == "shards":
        pytest.importorskip("litdata", reason="shards need the scale extra: vitp[scale]")
        from vitp_core.corpus.shards import optimize_corpus

        data = tmp_path / "shards"
        optimize_corpus(corpus, data, chunk_size=4)
    for i in range(0, 25, 2):
        (tmp_path / "tiny" / "images" / f"{i:03d}.png").write_bytes(b"not a png")
    expected = {f"{corpus.resolve()}:{i + 1}" for i in range(0, 25, 2)}
    (tmp_path / "seen_skipped.py").write_text(SEEN)
    run = tmp_path / "run"
    result = pretrain_subprocess(
        run,
        data,
        *("--data.batch_size", "2", "--data.reliance_records", "0", "--reliance.enabled", "false"),
        *("--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"),
        *("--trainer.max_epochs", "1", "--trainer.callbacks+=seen_skipped.SeenSkipped"),
        env={"PYTHONPATH": str(tmp_path), "SEEN_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = [set(json.loads((tmp_path / f"seen-rank{r}.json").read_text())) for r in (0, 1)]
    assert seen[0] | seen[1] == expected
    assert seen[0] - seen[1] and seen[1] - seen[0], "each rank meets bad records of its own"
    if layout == "jsonl":
        assert seen[0] & seen[1], "the padded record is met by both ranks"
    report = [json.loads(x)["source"] for x in (run / "bad_records.jsonl").read_text().splitlines()]
    assert sorted(report) == sorted(expected)  # every rank's, each once
    assert json.loads((run / "run_summary.json").read_text())["bad_records"] == len(expected)
    assert f"bad records skipped: {len(expected)}" in result.stdout
    saved = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    kept = {f"{x['path']}:{x['line']}" for x in saved[CHECKPOINT_KEY]["skipped_records"]}
    assert kept == expected  # so a resume on any number of ranks restores them all
