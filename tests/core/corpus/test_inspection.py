from pathlib import Path

from PIL import Image

from vitp_core.corpus.inspection import corpus_stats, draw_contact_sheet, format_stats
from vitp_core.corpus.writer import CorpusWriter

from .conftest import save_rgb


def test_stats_and_contact_sheet(tmp_path: Path) -> None:
    a = save_rgb(tmp_path / "src" / "a.png", (200, 10, 10), (40, 20))
    b = save_rgb(tmp_path / "src" / "b.png", (10, 200, 10))
    with CorpusWriter(tmp_path / "c", name="toy") as w:
        w.add(
            "1",
            [a],
            [("Where is the car?", "<ref>car</ref><box>[[0, 0, 500, 500]]</box>")],
            {"task": "detection"},
        )
        w.add("2", [a, b], [("Changed?", "Yes, about 4% of the area changed.")], {"task": "change"})
        w.add(
            "3",
            [tmp_path / "src" / "gone.png"],
            [("What?", "A field.")],
            {"task": "classification"},
        )
    stats = corpus_stats(tmp_path / "c" / "corpus.jsonl")
    assert stats.records == 3 and stats.per_source == {"toy": 3}
    assert stats.per_task == {"detection": 1, "change": 1, "classification": 1}
    assert stats.images_per_record == {1: 2, 2: 1}
    assert len(stats.image_problems) == 1 and "gone.png: file not found" in stats.image_problems[0]
    text = format_stats(stats)
    assert "answer length (words): min 2" in text and "missing or unreadable images (1)" in text
    sheet = draw_contact_sheet(stats.samples, tmp_path / "sheet.png", n_samples=3)
    assert Image.open(sheet).size[0] > 300
