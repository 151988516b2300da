"""A run folder keeps what it holds: append-only metrics, refused starts change nothing,
changed run settings and corrupt checkpoints are refused, one run at a time (items 2, 4,
7, 10b). `vitp pretrain` runs in-process here (the same `main` as the console)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_data import TINY_PRETRAIN_ARGS, write_tiny_corpus

from vitp_core.cli import main as vitp


def _pretrain(run: Path, corpus: Path, *extra: str) -> int:
    args = ["pretrain", "--run_dir", str(run), "--data.corpus", str(corpus), *TINY_PRETRAIN_ARGS]
    return vitp([*args, "--trainer.log_every_n_steps", "1", *extra])


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 3-step run (checkpoint every step) and its corpus."""
    root = tmp_path_factory.mktemp("finished")
    corpus = write_tiny_corpus(root / "tiny")
    assert _pretrain(root / "run", corpus, "--trainer.max_steps", "3") == 0
    return root / "run", corpus


@pytest.fixture
def run(finished: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the finished run (same corpus)."""
    source, corpus = finished
    shutil.copytree(source, tmp_path / "run")
    return tmp_path / "run", corpus


def test_refused_starts_leave_the_run_folder_as_it_was(
    run: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    folder, corpus = run
    before = _snapshot(folder)
    # a resume with a changed run-defining setting is refused, naming it (item 10b)
    assert _pretrain(folder, corpus, "--ckpt_path", "last", "--model.vrl_ratio", "0.5") == 1
    err = capsys.readouterr().err
    assert "model.vrl_ratio: 0.75 -> 0.5" in err and "--model.init_from" in err
    assert _snapshot(folder) == before
    other = write_tiny_corpus(folder.parent / "other")
    assert _pretrain(folder, other, "--ckpt_path", "last") == 1
    assert "data.corpus: " in capsys.readouterr().err
    # a start that fails once the trainer runs (no usable record) changes nothing either
    shutil.move(corpus.parent / "images", folder.parent / "moved")
    try:
        assert _pretrain(folder, corpus, "--ckpt_path", "last", "--trainer.max_steps", "5") == 1
    finally:
        shutil.move(folder.parent / "moved", corpus.parent / "images")
    assert "no usable record" in capsys.readouterr().err
    assert _snapshot(folder) == before


def test_a_fresh_start_in_a_folder_holding_a_run_is_refused(
    run: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    folder, corpus = run
    before = _snapshot(folder)
    assert _pretrain(folder, corpus) == 1
    err = capsys.readouterr().err
    assert "already holds a run" in err and "checkpoints/last.ckpt" in err
    assert "--ckpt_path last" in err and len(err.strip().splitlines()) == 1
    assert _snapshot(folder) == before


def test_resume_last_without_last_ckpt_does_not_overwrite_the_run(
    run: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    folder, corpus = run
    (folder / "checkpoints" / "last.ckpt").unlink()  # e.g. deleted to save space
    before = _snapshot(folder)
    assert _pretrain(folder, corpus, "--ckpt_path", "last") == 1
    err = capsys.readouterr().err
    assert "--ckpt_path last" in err and "no checkpoints/last.ckpt" in err
    assert "backbone.safetensors" in err and len(err.strip().splitlines()) == 1
    assert _snapshot(folder) == before


def test_resume_last_in_an_empty_folder_starts_the_run(tmp_path: Path, tiny_corpus: Path) -> None:
    # a job that always asks for `last` (preemptible clusters) starts the first time
    folder = tmp_path / "fresh"
    assert _pretrain(folder, tiny_corpus, "--ckpt_path", "last", "--trainer.max_steps", "1") == 0
    assert (folder / "checkpoints" / "last.ckpt").is_file()


def test_a_resume_appends_to_metrics_csv(run: tuple[Path, Path]) -> None:
    folder, corpus = run
    old_rows = (folder / "metrics.csv").read_text().splitlines()[1:]
    assert old_rows
    assert _pretrain(folder, corpus, "--ckpt_path", "last", "--trainer.max_steps", "5") == 0
    lines = (folder / "metrics.csv").read_text().splitlines()
    assert lines[1 : 1 + len(old_rows)] == old_rows
    header = lines[0].split(",")
    steps = {int(row.split(",")[header.index("step")]) for row in lines[1:]}
    assert {0, 1, 2, 3, 4} <= steps


def test_every_checkpoint_has_a_checksum_that_resume_and_export_check(
    run: tuple[Path, Path], capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    folder, corpus = run
    last = folder / "checkpoints" / "last.ckpt"
    record = (folder / "checkpoints" / "last.ckpt.sha256").read_text()
    assert record == f"{hashlib.sha256(last.read_bytes()).hexdigest()}  last.ckpt\n"
    # replace one weight: still a loadable checkpoint, but not the one recorded
    payload = torch.load(last, weights_only=True)
    name = next(k for k in payload["state_dict"] if k.startswith("model.vit."))
    payload["state_dict"][name] = payload["state_dict"][name] + 1.0
    torch.save(payload, last)
    before = _snapshot(folder)
    assert _pretrain(folder, corpus, "--ckpt_path", "last", "--trainer.max_steps", "4") == 1
    err = capsys.readouterr().err
    assert "does not match" in err and "--verify_checksum false" in err
    assert _snapshot(folder) == before
    out = tmp_path / "vit.safetensors"
    assert vitp(["export", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "does not match" in err and "--no-verify-checksum" in err and not out.exists()
    assert vitp(["export", str(folder), "--out", str(out), "--no-verify-checksum"]) == 0
    (folder / "checkpoints" / "last.ckpt.sha256").unlink()
    assert vitp(["export", str(folder), "--out", str(out)]) == 2
    assert "no checksum record" in capsys.readouterr().err
    # the opt-out resumes from it (the settings are still the run's)
    assert (
        _pretrain(
            folder,
            corpus,
            "--ckpt_path",
            "last",
            "--trainer.max_steps",
            "4",
            "--verify_checksum",
            "false",
        )
        == 0
    )


def test_a_second_run_in_the_folder_is_refused_naming_the_first(
    run: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    from vitp_core.training.run_lock import LOCK_FILE, _process_start

    folder, corpus = run
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = {
            "pid": holder.pid,
            "host": socket.gethostname(),
            "started": "2025-01-01 10:00:00 +0000",
            "process_start": _process_start(holder.pid),
            "command": "vitp pretrain --run_dir x",
        }
        (folder / LOCK_FILE).write_text(json.dumps(lock))
        before = _snapshot(folder)
        assert _pretrain(folder, corpus, "--ckpt_path", "last", "--trainer.max_steps", "4") == 1
        err = capsys.readouterr().err
        assert f"in use by process {holder.pid} on {socket.gethostname()}" in err
        assert "started 2025-01-01 10:00:00" in err and len(err.strip().splitlines()) == 1
        assert _snapshot(folder) == before
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    from vitp_core.training.run_lock import LOCK_FILE, RunLock, RunLockedError

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = {"pid": dead.pid, "host": socket.gethostname(), "started": "then", "command": "x"}
    (tmp_path / LOCK_FILE).write_text(json.dumps(lock))
    with RunLock(tmp_path) as held:
        record = json.loads((tmp_path / LOCK_FILE).read_text())
        assert record["pid"] == os.getpid() and held.held
        with pytest.raises(RunLockedError, match=f"process {os.getpid()} on"):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / LOCK_FILE).exists()
    # a lock from another host cannot be checked: it says how to remove it
    (tmp_path / LOCK_FILE).write_text(json.dumps({**lock, "host": "elsewhere", "pid": 1}))
    with pytest.raises(RunLockedError, match="If that run is gone, delete"):
        RunLock(tmp_path).acquire()
