"""Item 5: a run that would train on nothing stops with a clear error and exports nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_data import TINY_PRETRAIN_ARGS
from tiny_runs import fit_tiny, tiny_module

from vitp_core.cli import main as vitp
from vitp_core.training.artifacts import RunArtifacts


def _pretrain(run: Path, corpus: Path, *extra: str) -> int:
    args = ["pretrain", "--run_dir", str(run), "--data.corpus", str(corpus), *TINY_PRETRAIN_ARGS]
    return vitp([*args, "--trainer.max_steps", "2", *extra])


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--data.val_fraction", "1.5", "data.val_fraction 1.5: is the share of records"),
        ("--data.val_fraction", "1.0", "data.val_fraction 1.0: is the share of records"),
        ("--trainer.max_steps", "0", "trainer.max_steps 0: the run would take no optimizer step"),
    ],
)
def test_settings_that_leave_nothing_to_train_on_are_refused_at_start(
    tmp_path: Path,
    tiny_corpus: Path,
    capsys: pytest.CaptureFixture,
    option: str,
    value: str,
    message: str,
) -> None:
    assert _pretrain(tmp_path / "run", tiny_corpus, option, value) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_max_seq_len_below_every_record_is_refused_before_training(
    tmp_path: Path, tiny_corpus: Path, capsys: pytest.CaptureFixture
) -> None:
    assert _pretrain(tmp_path / "run", tiny_corpus, "--model.max_seq_len", "8") == 1
    err = capsys.readouterr().err
    assert "would train on nothing" in err and "exceed max_seq_len=8" in err
    assert not (tmp_path / "run" / "backbone.safetensors").exists()


def test_a_run_without_a_single_trained_step_fails_and_exports_nothing(
    tmp_path: Path, tiny_corpus: Path
) -> None:
    from vitp_core.training.safety import NothingTrainedError

    module = tiny_module(max_seq_len=8)  # every record is too long: every batch is empty
    artifacts = RunArtifacts(run_dir=str(tmp_path))
    with pytest.raises(NothingTrainedError, match="none trained on a record"):
        fit_tiny(module, tiny_corpus, 2, [artifacts], data_kwargs={"probe_records": 0})
    assert not (tmp_path / "backbone.safetensors").exists()
    assert module.health.empty_steps == 2 and module.health.trained_steps == 0
    assert len(module.skipped_records) > 0
    assert (tmp_path / "bad_records.jsonl").read_text().count("max_seq_len") > 0
