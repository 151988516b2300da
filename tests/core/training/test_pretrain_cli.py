"""End-to-end `vitp pretrain` runs on a tiny seeded corpus (subprocesses, like a user)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_data import write_tiny_corpus
from tiny_runs import pretrain_subprocess as _pretrain

VITP = [sys.executable, "-m", "vitp_core.cli"]


def test_pretrain_writes_checkpoint_curve_and_loadable_export(
    tmp_path: Path, tiny_corpus: Path
) -> None:
    result = _pretrain(tmp_path / "run", tiny_corpus, "--trainer.max_steps", "3")
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    for name in (
        "checkpoints/last.ckpt",
        "loss_curve.png",
        "backbone.safetensors",
        "backbone.json",
        "run_summary.json",
    ):
        assert (run / name).is_file(), name
    assert str(run / "backbone.safetensors") in result.stdout
    import timm  # plain timm, no vitp import: the sidecar names the stock equivalent

    meta = json.loads((run / "backbone.json").read_text())
    vit = timm.create_model(meta["timm_model"], **meta["timm_kwargs"])
    missing, unexpected = vit.load_state_dict(load_file(run / "backbone.safetensors"))
    assert not missing and not unexpected
    assert meta["steps"] == 3 and meta["vrl"] == {"ratio": 0.75, "apply_prob": 1.0, "mode": "late"}
    # Image reliance, measured at the end on held-out records, in every output.
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"reliance/own", "reliance/other", "reliance/gap"} <= set(header)
    reliance = json.loads((run / "run_summary.json").read_text())["image_reliance"]
    assert reliance["step"] == 3 and reliance["records"] == 2
    assert reliance["gap"] == pytest.approx(reliance["other"] - reliance["own"])
    assert meta["extra"]["image_reliance"]["gap"] == reliance["gap"]
    assert "image reliance on 2 held-out records" in result.stdout


def _add_bad_records(corpus: Path) -> None:
    lines = corpus.read_text().splitlines()
    (corpus.parent / "images" / "broken.png").write_bytes(b"not a png")
    bad = [
        '{"id": "x", "conversations": [',  # malformed JSON
        json.dumps(
            {
                "id": "missing",
                "image": "images/none.png",
                "conversations": [
                    {"from": "human", "value": "<image>\\nQ"},
                    {"from": "gpt", "value": "A"},
                ],
            }
        ),
        json.dumps(
            {
                "id": "corrupt",
                "image": "images/broken.png",
                "conversations": [
                    {"from": "human", "value": "<image>\\nQ"},
                    {"from": "gpt", "value": "A"},
                ],
            }
        ),
        json.dumps(
            {
                "id": "long",
                "image": "images/000.png",
                "conversations": [
                    {"from": "human", "value": "<image>\\n" + "very long " * 200},
                    {"from": "gpt", "value": "A"},
                ],
            }
        ),
    ]
    corpus.write_text("\n".join(lines[:2] + bad + lines[2:]) + "\n")


def test_bad_records_are_skipped_counted_and_named(tmp_path: Path, tiny_corpus: Path) -> None:
    _add_bad_records(tiny_corpus)
    result = _pretrain(
        tmp_path / "run", tiny_corpus, "--trainer.max_steps", "6", "--model.max_seq_len", "512"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = [
        json.loads(line)
        for line in (tmp_path / "run" / "bad_records.jsonl").read_text().splitlines()
    ]
    reasons = {r["source"].rsplit(":", 1)[1]: r["reason"] for r in report}
    assert "not valid JSON" in reasons["3"] and "not found" in reasons["4"]
    assert "image unusable" in reasons["5"] and "max_seq_len" in reasons["6"]
    assert "bad records skipped: 4" in result.stdout


def test_bad_record_stops_the_run_when_asked(tmp_path: Path, tiny_corpus: Path) -> None:
    _add_bad_records(tiny_corpus)
    result = _pretrain(
        tmp_path / "run", tiny_corpus, "--trainer.max_steps", "2", "--data.on_bad_record", "raise"
    )
    assert result.returncode != 0
    assert f"{tiny_corpus}:3: not valid JSON" in result.stderr


KILLER = """
import os
import lightning as L
class KillAtStep(L.Callback):
    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == 4:
            os._exit(3)
"""


def test_resume_after_a_kill_continues_exactly(tmp_path: Path, tiny_corpus: Path) -> None:
    (tmp_path / "killer.py").write_text(KILLER)
    common = (
        "--trainer.max_steps",
        "8",
        "--checkpoint.every_n_train_steps",
        "2",
        "--model.vrl_ratio",
        "0",
    )
    killed = _pretrain(
        tmp_path / "a",
        tiny_corpus,
        *common,
        "--trainer.callbacks+=killer.KillAtStep",
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert killed.returncode == 3
    saved = torch.load(tmp_path / "a" / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 2  # mid-epoch: 12 records, batches of 4
    resumed = _pretrain(tmp_path / "a", tiny_corpus, *common, "--ckpt_path", "last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    straight = _pretrain(tmp_path / "b", tiny_corpus, *common)
    assert straight.returncode == 0
    a = load_file(tmp_path / "a" / "backbone.safetensors")
    b = load_file(tmp_path / "b" / "backbone.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    assert json.loads((tmp_path / "a" / "run_summary.json").read_text())["steps"] == 8


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(tmp_path: Path) -> None:
    corpus = write_tiny_corpus(tmp_path / "tiny", n=16)
    ddp = (
        "--trainer.strategy",
        "ddp",
        "--trainer.devices",
        "2",
        "--trainer.accelerator",
        "cpu",
        "--trainer.max_steps",
        "2",
    )
    result = _pretrain(tmp_path / "run", corpus, *ddp)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "distributed_backend=gloo" in result.stderr + result.stdout
    assert (tmp_path / "run" / "backbone.safetensors").is_file()


def test_print_config_shows_the_defaults() -> None:
    result = subprocess.run(
        [*VITP, "pretrain", "--print_config"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "vrl_ratio: 0.75" in result.stdout and "run_dir:" in result.stdout
