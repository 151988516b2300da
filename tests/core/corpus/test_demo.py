import os
from pathlib import Path

from vitp_core.corpus import read_corpus
from vitp_core.corpus.demo import build_demo_corpus
from vitp_core.corpus.images import load_image
from vitp_core.corpus.validate import validate_corpus


def test_demo_builds_reads_validates_and_is_reused(tmp_path: Path) -> None:
    path = build_demo_corpus(tmp_path / "demo", n_scenes=4, chip_size=64)
    assert path == (tmp_path / "demo" / "demo.json").resolve()
    records, bad = read_corpus(path)
    assert not bad
    sources = {r.meta["source"] for r in records}
    assert sources == {"demo_aerial", "demo_change", "demo_phantom"}
    assert all(r.meta.get("synthetic") for r in records)
    assert validate_corpus(path).ok
    assert all(
        load_image(p).shape[0] == 3 for r in records for p in r.images
    )  # RGB for the default model
    aerial = next(r for r in records if r.meta["source"] == "demo_aerial")
    assert aerial.meta["crs"] == "EPSG:32633" and aerial.images[0].suffix == ".tif"
    assert (tmp_path / "demo" / "aerial" / "source" / "labels.gpkg").is_file()
    stamp = (tmp_path / "demo" / "stamp.json").stat().st_mtime_ns
    assert build_demo_corpus(tmp_path / "demo", n_scenes=4, chip_size=64) == path
    assert (tmp_path / "demo" / "stamp.json").stat().st_mtime_ns == stamp  # reused
    build_demo_corpus(tmp_path / "demo", n_scenes=4, chip_size=64, seed=1)  # other config: rebuilt
    assert (tmp_path / "demo" / "stamp.json").stat().st_mtime_ns != stamp
    leftovers = [p for p in os.listdir(tmp_path) if p.startswith(".")]
    assert not leftovers  # temporary build folders are cleaned up


def test_demo_is_deterministic(tmp_path: Path) -> None:
    first, _ = read_corpus(build_demo_corpus(tmp_path / "a", n_scenes=2, chip_size=64))
    second, _ = read_corpus(build_demo_corpus(tmp_path / "b", n_scenes=2, chip_size=64))
    assert [r.turns for r in first] == [r.turns for r in second]
