"""Issue 16: shards written by `vitp corpus optimize`, streamed with LitData."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np
import pytest
from tiny_data import TINY_ARCHITECTURE, write_tiny_corpus

pytest.importorskip(
    "litdata", reason="streamed shards need the scale extra: pip install 'vitp[scale]'"
)
from litdata.utilities.env import _DistributedEnv

from vitp_core.corpus.reader import read_corpus
from vitp_core.corpus.records import BadRecordError
from vitp_core.corpus.shards import optimize_corpus, read_bad_records
from vitp_core.data.collate import CollatedBatch
from vitp_core.data.datamodule import InstructionDataModule
from vitp_core.data.processor import ProcessedSample, SampleProcessor
from vitp_core.data.streaming import (
    InstructionStream,
    ResumableStreamLoader,
    ShardCorpus,
    ShardRecordLoader,
)
from vitp_core.training.module import ViTPPretrainModule

TINY = {**TINY_ARCHITECTURE, "vrl_ratio": 0.0}


@pytest.fixture(scope="module")
def processor() -> SampleProcessor:
    return ViTPPretrainModule(**TINY).processor


def _mixture(folder: Path) -> Path:
    write_tiny_corpus(folder / "a", n=20, size=16)
    b = write_tiny_corpus(folder / "b", n=10, size=16, seed=1)
    good = b.read_text().splitlines()
    like = good[3]
    lines = [
        *good[:2],
        '{"id": "broken", "conversations": [',  # line 3: malformed JSON
        good[2],
        like.replace("tiny-003", "b-missing").replace(
            "images/003.png", "images/none.png"
        ),  # 5: missing
        good[3],
        like.replace("tiny-003", "b-outside").replace(
            "images/003.png", "../a/images/001.png"
        ),  # 7: outside
        *good[4:],
    ]
    b.write_text("\n".join(lines) + "\n")
    mixture = folder / "mix.json"
    spec = {
        "a": {"annotation": "a/corpus.jsonl", "root": "a", "repeat_time": 2},
        "b": {
            "annotation": "b/corpus.jsonl",
            "root": "b",
            "repeat_time": 0.5,
            "max_dynamic_patch": 12,
            "data_augment": True,
        },
    }
    mixture.write_text(json.dumps(spec))
    return mixture


def test_optimize_applies_repeats_and_settings_and_names_bad_records(tmp_path: Path) -> None:
    mixture = _mixture(tmp_path)
    manifest = optimize_corpus(mixture, tmp_path / "shards", seed=3, chunk_size=8)
    records, bad = read_corpus(mixture, seed=3)
    # read_corpus does not look for images, so it keeps b's line 5 (image missing)
    assert manifest.items == 2 * 20 + 5 and manifest.records == 30
    assert len(records) == 2 * 20 + 6
    sources = {s["name"]: s for s in manifest.sources}
    assert sources["b"]["max_dynamic_patch"] == 12 and sources["b"]["data_augment"] is True
    named = {str(e.source): e.reason for e in read_bad_records(tmp_path / "shards")}
    b = tmp_path / "b" / "corpus.jsonl"
    assert "not valid JSON" in named[f"{b.resolve()}:3"]
    assert "not found" in named[f"{b.resolve()}:5"]
    assert "outside" in named[f"{b.resolve()}:7"] and len(named) == len(bad) + 1
    with pytest.raises(FileExistsError, match="not empty"):
        optimize_corpus(mixture, tmp_path / "shards")


def test_two_workers_write_the_same_items_and_bad_records_as_one(tmp_path: Path) -> None:
    from litdata import StreamingDataset

    mixture = _mixture(tmp_path)
    # a blank line and a bad one in the other half of a: line numbers must still add up
    a = tmp_path / "a" / "corpus.jsonl"
    lines = a.read_text().splitlines()
    a.write_text("\n".join([*lines[:12], "", "[1, 2]", *lines[12:]]) + "\n")
    written = {}
    for workers in (1, 2):
        out = tmp_path / f"shards{workers}"
        manifest = optimize_corpus(mixture, out, seed=5, chunk_size=7, workers=workers)
        stream = StreamingDataset(str(out))
        items = [stream[i] for i in range(len(stream))]
        records = np.load(out / "vitp_items.npy").tolist()
        assert records == [item["record"] for item in items]  # the index matches the chunks
        assert any(out.glob("chunk-1-*.bin")) == (workers == 2)  # LitData's second worker wrote
        written[workers] = (manifest, items, (out / "bad_records.jsonl").read_text())
    assert written[1] == written[2]
    manifest, items, bad = written[2]
    assert manifest.items == 2 * 20 + 5 and manifest.bad_records == 4
    assert f"{a.resolve()}:14" in bad and f"{a.resolve()}:13" not in bad
    assert {(item["source"], item["line"]) for item in items if item["source"] == 0} == {
        (0, line) for line in [*range(1, 13), *range(15, 23)]
    }


def _stream(folder: Path, processor: SampleProcessor, rank: int, world: int) -> InstructionStream:
    shards = ShardCorpus(folder)
    loader = ShardRecordLoader(shards.entries, processor)
    stream = InstructionStream(folder, loader, seed=0, drop_last=False)
    stream.distributed_env = _DistributedEnv(world, rank, 1)
    return stream


def _ids(loader) -> list[str]:
    return [rid for batch in loader for rid in batch.record_ids]


def test_two_ranks_times_two_workers_cover_every_record_once(
    tmp_path: Path, processor: SampleProcessor
) -> None:
    corpus = write_tiny_corpus(tmp_path / "c", n=50, size=16)
    optimize_corpus(corpus, tmp_path / "shards", chunk_size=6)
    shares = []
    for rank in range(2):
        stream = _stream(tmp_path / "shards", processor, rank, 2)
        loader = ResumableStreamLoader(
            stream, batch_size=4, num_workers=2, collate_fn=_collate(processor)
        )
        shares.append(_ids(loader))
    assert not set(shares[0]) & set(shares[1])
    every = sorted(shares[0] + shares[1])
    assert every == sorted(f"tiny-{i:03d}" for i in range(50))  # each record exactly once


def _collate(processor: SampleProcessor):
    import functools

    from vitp_core.data.collate import collate_samples

    return functools.partial(collate_samples, pad_token_id=processor.tokenizer.pad_token_id)


@pytest.mark.parametrize("workers", [(2, 2), (2, 1)])
def test_resume_mid_epoch_repeats_and_skips_nothing(
    tmp_path: Path, processor: SampleProcessor, workers: tuple[int, int]
) -> None:
    corpus = write_tiny_corpus(tmp_path / "c", n=40, size=16)
    optimize_corpus(corpus, tmp_path / "shards", chunk_size=5)

    def loader(num_workers: int) -> ResumableStreamLoader:
        stream = _stream(tmp_path / "shards", processor, 0, 1)
        return ResumableStreamLoader(
            stream, batch_size=3, num_workers=num_workers, collate_fn=_collate(processor)
        )

    whole = _ids(loader(workers[0]))
    first, part = loader(workers[0]), []
    for index, batch in enumerate(first):
        part += batch.record_ids
        if index == 4:
            state = first.state_dict()
            break
    resumed = loader(workers[1])
    resumed.load_state_dict(state)
    rest = _ids(resumed)
    assert sorted(part + rest) == sorted(whole)  # nothing repeated, nothing skipped
    if workers[0] == workers[1]:
        assert part + rest == whole  # and in the uninterrupted order


class _Seen(L.Callback):
    def __init__(self) -> None:
        self.ids: list[str] = []

    def on_train_batch_start(self, trainer, module, batch: CollatedBatch, index: int) -> None:
        self.ids += batch.record_ids


def _fit(
    corpus: Path, steps: int, run: Path, ckpt: str | None = None
) -> tuple[list[str], ViTPPretrainModule]:
    from lightning.pytorch.callbacks import ModelCheckpoint

    L.seed_everything(0, verbose=False)
    module = ViTPPretrainModule(**TINY)
    data = InstructionDataModule(
        corpus=str(corpus),
        processor=module.processor,
        batch_size=3,
        num_workers=2,
        reliance_records=4,
        val_fraction=0.1,
    )
    seen = _Seen()
    checkpoints = ModelCheckpoint(dirpath=run, save_last=True, save_top_k=0, every_n_train_steps=1)
    trainer = L.Trainer(
        max_steps=steps,
        callbacks=[seen, checkpoints],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    trainer.fit(module, datamodule=data, ckpt_path=ckpt)
    held = {r.id for r in data.held_out_records}
    assert len(held) == 4 and not held & set(seen.ids)  # held-out records never trained on
    return seen.ids, module


@pytest.mark.slow
def test_stopped_and_resumed_training_sees_the_uninterrupted_order(tmp_path: Path) -> None:
    corpus = write_tiny_corpus(tmp_path / "c", n=40, size=16)
    optimize_corpus(corpus, tmp_path / "shards", chunk_size=4)
    whole, _ = _fit(tmp_path / "shards", 6, tmp_path / "whole")
    # break one record trained before the stop and one trained after the resume
    broken = [whole[1], whole[-1]]
    for name in broken:
        (tmp_path / "c" / "images" / f"{name[-3:]}.png").write_bytes(b"not a png")
    first, _ = _fit(tmp_path / "shards", 3, tmp_path / "run")
    rest, module = _fit(
        tmp_path / "shards", 6, tmp_path / "run", str(tmp_path / "run" / "last.ckpt")
    )
    assert first + rest == [name for name in whole if name not in broken]
    assert len(set(whole)) == len(whole)
    # both bad records counted once, by source line, across the resume
    lines = {f"{corpus.resolve()}:{int(name[-3:]) + 1}" for name in broken}
    assert set(module.skipped_records) == lines


def test_a_bad_record_in_the_shards_is_named_by_its_source_line(
    tmp_path: Path, processor: SampleProcessor
) -> None:
    corpus = write_tiny_corpus(tmp_path / "c", n=12, size=16)
    optimize_corpus(corpus, tmp_path / "shards", chunk_size=4)
    (tmp_path / "c" / "images" / "004.png").write_bytes(b"not a png")  # broken after optimize
    stream = _stream(tmp_path / "shards", processor, 0, 1)
    items = [stream[i] for i in range(len(stream))]
    bad = [x for x in items if isinstance(x, BadRecordError)]
    assert [str(x.source) for x in bad] == [f"{corpus.resolve()}:5"]
    assert "image unusable" in bad[0].reason
    assert sum(isinstance(x, ProcessedSample) for x in items) == 11
    stream.loader.on_bad_record = "raise"
    with pytest.raises(BadRecordError, match=r"corpus.jsonl:5: image unusable"):
        [stream[i] for i in range(len(stream))]


def test_bad_records_left_out_by_optimize_reach_the_data_module(
    tmp_path: Path, processor: SampleProcessor
) -> None:
    mixture = _mixture(tmp_path)
    optimize_corpus(mixture, tmp_path / "shards")
    data = InstructionDataModule(corpus=str(tmp_path / "shards"), processor=processor)
    data.setup()
    assert len(data.bad_records) == 3 and data.num_records + len(data.held_out_records) > 0
    strict = InstructionDataModule(
        corpus=str(tmp_path / "shards"), processor=processor, on_bad_record="raise"
    )
    with pytest.raises(BadRecordError, match=r"corpus.jsonl:3: not valid JSON"):
        strict.setup()


def test_jsonl_corpus_is_an_offsets_index(tmp_path: Path, processor: SampleProcessor) -> None:
    import pickle

    from vitp_core.data.record_index import RecordIndex

    corpus = write_tiny_corpus(tmp_path / "c", n=20, size=16)
    data = InstructionDataModule(corpus=str(corpus), processor=processor, val_fraction=0.2)
    data.setup()
    assert isinstance(data.train_records, RecordIndex)
    assert len(data.train_records) + len(data.val_records) + len(data.held_out_records) == 20
    clone = pickle.loads(pickle.dumps(data.train_records))  # what a worker receives
    assert clone[0].id == data.train_records[0].id and clone[0].source.line >= 1
