"""`vitp --help` imports no heavy library, and every option shows a help text and its default."""

import subprocess
import sys

import pytest

from vitp_core.cli import build_parser, main
from vitp_core.cli_help import iter_parsers, undocumented_options

HEAVY = ("torch", "timm", "lightning", "transformers", "torchgeo", "monai", "vitp_torchgeo")


def test_top_level_help_imports_no_heavy_module() -> None:
    code = (
        "import sys\n"
        "from vitp_core.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout, result.stdout[-400:]
    for command in ("pretrain", "export", "corpus", "tokenizer", "monai-bundle", "predict"):
        assert command in result.stdout  # core and plugin commands are all listed


def test_sub_command_help_still_complete(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["export", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "--format" in text and "(default: timm)" in text


@pytest.mark.parametrize(
    "command", ["export", "corpus", "tokenizer", "monai-bundle", "predict", "band-stats"]
)
def test_every_option_has_help_and_its_default(command: str) -> None:
    parser, _ = build_parser(command)
    parsers = dict(iter_parsers(parser))
    assert len(parsers) > (10 if command == "corpus" else 1)
    problems = [p for sub in parsers.values() for p in undocumented_options(sub)]
    assert not problems, "\n".join(problems)


def test_top_level_options_documented() -> None:
    parser, _ = build_parser()
    assert not undocumented_options(parser)


def test_unknown_command_lists_the_commands(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["exprot"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'exprot'" in err and "export" in err
