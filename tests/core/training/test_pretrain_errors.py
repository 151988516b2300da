"""Item 12: `vitp pretrain` start errors are one line naming the option or file, found
before any model is built; help and errors speak of `vitp pretrain`; the progress bar
counts steps in runs bounded by max_steps."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vitp_core.cli import main as vitp
from vitp_core.training.module import ViTPPretrainModule


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a start builds the model."""

    @functools.wraps(ViTPPretrainModule.__init__)  # keeps the signature the CLI reads
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was built before the start was checked")

    monkeypatch.setattr(ViTPPretrainModule, "__init__", refuse)


def _one_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and "fit" not in err.replace("--trainer.", ""), err
    return err


@pytest.mark.usefixtures("no_model")
@pytest.mark.parametrize(
    ("args", "status", "expected"),
    [
        (
            ["--model.vrl_ration", "0.5"],
            2,
            "unknown option --model.vrl_ration. Did you mean --model.vrl_ratio?",
        ),
        (["--model.vrl_ratio", "abc"], 2, "--model.vrl_ratio: expected a number, got abc"),
        (["--model.vrl_ratio", "1.5"], 1, "model.vrl_ratio 1.5: is the share of visual tokens"),
        (["--data.batch_size", "0"], 1, "data.batch_size 0: must be 1 or more"),
        (
            ["--data.corpus", "missing/corpus.jsonl"],
            1,
            "data.corpus missing/corpus.jsonl: not found",
        ),
        (["--model.init_from", "no/such/run"], 1, "model.init_from no/such/run: not found"),
        (["--ckpt_path", "no/such.ckpt"], 1, "--ckpt_path no/such.ckpt: not found"),
    ],
)
def test_bad_starts_are_one_line_before_any_model_is_built(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], status: int, expected: str
) -> None:
    assert vitp(["pretrain", "--run_dir", str(tmp_path / "run"), *args]) == status
    err = _one_line(capsys)
    assert err.startswith("vitp pretrain: error: ") and expected in err
    assert not (tmp_path / "run").exists()


@pytest.mark.usefixtures("no_model")
def test_a_misspelt_key_in_a_config_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("model:\n  vrl_ration: 0.5\n")
    assert vitp(["pretrain", "--config", str(config)]) == 2
    err = _one_line(capsys)
    assert "unknown setting model.vrl_ration" in err and "Did you mean model.vrl_ratio?" in err
    config.write_text("data:\n  val_fraction: 1.5\n  corpus: missing.jsonl\n")
    assert vitp(["pretrain", "--config", str(config)]) == 1  # checked after parsing the file
    assert "data.val_fraction 1.5: is the share of records" in _one_line(capsys)


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"data\.corpus .*missing\.jsonl: not found"):
        vitp(["pretrain", "--debug", "--data.corpus", str(tmp_path / "missing.jsonl")])


def test_help_speaks_of_vitp_pretrain_and_documents_every_option(
    capsys: pytest.CaptureFixture,
) -> None:
    with pytest.raises(SystemExit) as stop:
        vitp(["pretrain", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: vitp pretrain ") and "vitp fit" not in text
    assert "trainer.fit" not in text and "Subcommand" not in text
    options = re.split(r"\n(?=  -)", text[text.index("options:") :])[1:]
    undocumented = []
    for block in options:
        words = " ".join(block.split())
        name = words.split()[0].rstrip(",")
        if name in ("-h", "-c") or name.endswith(".help") or "CONFIG Path to a config" in words:
            continue  # help actions and nested config files have no default
        described = re.sub(r"\(type: .*\)$", "", words).split(maxsplit=2)[2:]
        if not described or "default" not in words:
            undocumented.append(name)
    assert len(options) > 100 and not undocumented, undocumented


def test_progress_bar_counts_steps_when_only_max_steps_bounds_the_run() -> None:
    from vitp_core.training.progress import step_text, train_description

    assert train_description(3, -1) == "Epoch 3" and train_description(3, None) == "Epoch 3"
    assert train_description(3, 10) == "Epoch 3/9"
    assert step_text(12, 40) == "12/40" and step_text(12, -1) == "12"


@pytest.mark.slow
def test_console_prints_one_line_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vitp_core.cli", "pretrain", "--data.corpus", "nowhere.jsonl"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("vitp pretrain: error: data.corpus nowhere.jsonl: not found")
    assert "Traceback" not in result.stderr and not (tmp_path / "runs").exists()


def test_command_line_errors_fail_before_the_training_libraries_load(tmp_path: Path) -> None:
    """`vitp pretrain` checks its command line before importing torch and Lightning."""
    code = (
        "import sys\n"
        "from vitp_core.cli import main\n"
        "codes = [main(['pretrain', *a.split()]) for a in sys.argv[1:]]\n"
        "heavy = sorted(m for m in ('torch', 'lightning', 'timm') if m in sys.modules)\n"
        "print('CODES', codes, 'HEAVY', heavy)\n"
    )
    cases = [
        "--model.vrl_ration 0.5",
        "--model.vrl_ratio abc",
        "--data.val_fraction 1.5",
        "--data.corpus missing.jsonl",
        "--config missing.yaml",
    ]
    result = subprocess.run(
        [sys.executable, "-c", code, *cases],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert "CODES [2, 2, 1, 1, 1] HEAVY []" in result.stdout, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(cases) and all(x.startswith("vitp pretrain: error: ") for x in lines)
