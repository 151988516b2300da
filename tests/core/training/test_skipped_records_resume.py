"""Item 3: skipped-record counts survive a crash and resume (they live in the checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint
from tiny_runs import fit_tiny, tiny_module

from vitp_core.data.datamodule import InstructionDataModule
from vitp_core.data.sampler import ResumableRandomSampler
from vitp_core.training.artifacts import RunArtifacts


def test_records_skipped_before_a_resume_are_still_reported(
    tmp_path: Path, tiny_corpus: Path
) -> None:
    # break the images of three training records: the 1st and 6th drawn (steps 1 and 2)
    # and the 10th (step 3, after the resume)
    module = tiny_module()
    data = InstructionDataModule(corpus=str(tiny_corpus), processor=module.processor)
    data.setup()
    order = ResumableRandomSampler(len(data.train_records), seed=0).order()
    broken = [data.train_records[order[i]] for i in (0, 5, 9)]
    for record in broken:
        record.images[0].write_bytes(b"not a png")
    expected = {str(record.source) for record in broken}

    def checkpoints() -> ModelCheckpoint:
        return ModelCheckpoint(
            dirpath=tmp_path / "checkpoints", save_last=True, save_top_k=0, every_n_train_steps=1
        )

    # a run that stops after step 2 (its last checkpoint), as a crash would
    first = tiny_module()
    fit_tiny(first, tiny_corpus, 2, [checkpoints()], enable_checkpointing=True)
    assert set(first.skipped_records) == expected - {str(broken[2].source)}
    resumed = tiny_module()
    artifacts = RunArtifacts(run_dir=str(tmp_path))
    fit_tiny(
        resumed,
        tiny_corpus,
        3,
        [checkpoints(), artifacts],
        ckpt_path=str(tmp_path / "checkpoints" / "last.ckpt"),
        enable_checkpointing=True,
    )
    assert set(resumed.skipped_records) == expected
    summary = json.loads((tmp_path / "run_summary.json").read_text())
    assert summary["bad_records"] == 3 and summary["steps"] == 3
    report = [json.loads(x) for x in (tmp_path / "bad_records.jsonl").read_text().splitlines()]
    assert {r["source"] for r in report} == expected
    assert all("image unusable" in r["reason"] for r in report)
