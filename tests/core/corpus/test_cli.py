import json
import subprocess
import sys
from pathlib import Path

import pytest

from vitp_core.cli import main

from .conftest import save_rgb


def test_corpus_help(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["corpus", "--help"])
    assert exit_info.value.code == 0
    assert "build" in capsys.readouterr().out


def test_build_inspect_validate_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "data"
    for name in ("forest", "field"):
        save_rgb(data / "scenes" / name / "1.png", (40, 120, 40))
    monkeypatch.setenv("VITP_DATA", str(data))
    out = tmp_path / "runs" / "scenes"
    assert (
        main(["corpus", "build", "classification", "scenes", "--out", str(out)]) == 0
    )  # relative to VITP_DATA
    assert "scenes: 2 records" in capsys.readouterr().out
    assert (
        main(
            [
                "corpus",
                "inspect",
                str(out / "corpus.jsonl"),
                "--sheet",
                str(tmp_path / "s.png"),
                "--samples",
                "2",
            ]
        )
        == 0
    )
    assert "per task:" in capsys.readouterr().out and (tmp_path / "s.png").is_file()
    assert main(["corpus", "validate", str(out / "corpus.jsonl")]) == 0
    # Writing into the data folder is refused.
    assert main(["corpus", "build", "classification", "scenes", "--out", str(data / "x")]) == 2
    assert "inside the data folder" in capsys.readouterr().err


def test_validate_exit_code_and_raise_mode(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = {
        "id": "x",
        "image": "gone.png",
        "conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}],
    }
    (tmp_path / "c.jsonl").write_text(json.dumps(bad) + "\n")
    assert main(["corpus", "validate", str(tmp_path / "c.jsonl")]) == 1
    assert f"{tmp_path / 'c.jsonl'}:1: image" in capsys.readouterr().out
    assert main(["corpus", "validate", str(tmp_path / "c.jsonl"), "--on-bad-record", "raise"]) == 1


def test_build_stops_on_bad_input_with_raise(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "A").mkdir()
    save_rgb(tmp_path / "A" / "p.png", (1, 1, 1))
    code = main(
        [
            "corpus",
            "build",
            "change",
            str(tmp_path),
            "--out",
            str(tmp_path.parent / "o"),
            "--on-bad-record",
            "raise",
        ]
    )
    assert code == 1 and "p.png: no 'after' image" in capsys.readouterr().err


def test_corpus_modules_import_no_heavy_libraries() -> None:
    modules = [
        "vitp_core.corpus",
        "vitp_core.corpus.cli",
        "vitp_core.corpus.demo",
        "vitp_core.corpus.validate",
        "vitp_core.corpus.inspection",
        "vitp_core.corpus.builders.vector",
        "vitp_core.corpus.builders.volume",
        "vitp_core.corpus.builders.raster",
    ]
    heavy = ("torchgeo", "monai", "rasterio", "geopandas", "nibabel", "matplotlib")
    code = (
        f"import sys, {', '.join(modules)};"
        f"bad=[m for m in {heavy!r} if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validate_names_bombs_and_takes_a_pixel_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from hostile_files import png_bomb

    save_rgb(tmp_path / "ok.png", (1, 2, 3))
    png_bomb(tmp_path / "bomb.png")
    lines = [
        json.dumps(
            {
                "id": str(i),
                "image": name,
                "conversations": [
                    {"from": "human", "value": "<image>\nWhat is it?"},
                    {"from": "gpt", "value": "A field."},
                ],
            }
        )
        for i, name in enumerate(["ok.png", "bomb.png"])
    ]
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("\n".join(lines) + "\n")
    assert main(["corpus", "validate", str(corpus)]) == 1
    out = capsys.readouterr().out
    assert f"{corpus}:2: image {tmp_path / 'bomb.png'}: PIL refuses it" in out
    assert "2 records, 2 images checked: 1 bad record(s)" in out
    assert main(["corpus", "validate", str(corpus), "--max-image-pixels", "100"]) == 1
    assert f"{corpus}:1: image {tmp_path / 'ok.png'}: declares 32x32" in capsys.readouterr().out
