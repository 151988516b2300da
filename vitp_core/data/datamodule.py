"""InstructionDataModule: a Lightning data module over an instruction corpus."""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from torch.utils.data import DataLoader, Dataset

from vitp_core.corpus.records import BadRecordError, InstructionRecord
from vitp_core.corpus.shards import is_shard_folder, read_bad_records
from vitp_core.data.collate import collate_samples
from vitp_core.data.dataset import InstructionDataset, OnBadRecord
from vitp_core.data.processor import SampleProcessor
from vitp_core.data.record_index import scan_corpus
from vitp_core.data.sampler import ResumableRandomSampler
from vitp_core.data.settings import check_data_settings

__all__ = ["InstructionDataModule", "NoTrainingDataError", "check_data_settings"]

log = logging.getLogger(__name__)


class NoTrainingDataError(ValueError):
    """The corpus and settings leave nothing to train on."""


def _reasons(errors: list[BadRecordError]) -> str:
    """The distinct reasons of ``errors``, the commonest first, each with one example."""
    by_reason: dict[str, list[BadRecordError]] = {}
    for error in errors:
        key = error.reason.split(":")[0] if "max_seq_len" not in error.reason else "max_seq_len"
        by_reason.setdefault(key, []).append(error)
    ranked = sorted(by_reason.values(), key=len, reverse=True)
    return "; ".join(f"{len(group)} x {group[0]}" for group in ranked[:3])


def _hold_out(ids: Sequence[str], wanted: int, seed: int) -> tuple[list[int], list[int]]:
    """Split off up to ``wanted`` records by id (repeats of a held-out record go too).

    At most a fifth of the distinct records are held out, and none from corpora under 10.

    Returns:
        The position of the first item of each held-out id, and the positions of the rest.
    """
    distinct = sorted(set(ids))
    count = min(wanted, len(distinct) // 5) if len(distinct) >= 10 else 0
    chosen = set(random.Random(seed).sample(distinct, count)) if count else set()
    held, seen, rest = [], set(), []
    for position, name in enumerate(ids):
        if name not in chosen:
            rest.append(position)
        elif name not in seen:
            held.append(position)
            seen.add(name)
    return held, rest


class InstructionDataModule(L.LightningDataModule):
    """Batches of instruction records for ViTP pretraining.

    Records that cannot be used are never fatal with ``on_bad_record="skip"``: malformed
    JSON, schema problems and missing images are found when the corpus is read; corrupt
    images and over-long sequences when a record is loaded. All are counted, with file,
    line and reason, in :attr:`bad_records` and the batches' ``skipped`` lists.

    Args:
        corpus: A ``.jsonl`` corpus, a mixture ``.json`` or a shard folder written by
            ``vitp corpus optimize`` (streamed with LitData: :mod:`vitp_core.data.streaming`);
            ``None`` builds and uses the embedded demo corpus (procedurally generated, not
            real data) in ``demo_dir``. A JSONL corpus is checked once at the start and
            kept as an offsets index (records are parsed when loaded).
        processor: The model's :class:`SampleProcessor`; LightningCLI links it from the model.
        batch_size: Samples per batch and device.
        num_workers: Data-loading worker processes.
        val_fraction: Share of records held out for validation loss (0 disables validation).
        on_bad_record: ``"skip"`` (count and go on) or ``"raise"`` (stop at the first).
        seed: Seed of the shuffle and of the validation split.
        demo_dir: Where the demo corpus is built when ``corpus`` is ``None``.
        reliance_records: Records held out of training (and validation) to measure image
            reliance (:class:`vitp_core.training.reliance.ImageRelianceMonitor`); at most
            a fifth of the corpus, none below 10 records. 0 holds out nothing.
        max_image_pixels: Largest width x height of an image; larger ones are bad
            records, refused from their header before decoding (default:
            ``$VITP_MAX_IMAGE_PIXELS`` or 150 megapixels).
        allowed_image_roots: Folders that images may come from besides each corpus
            source's root (see :mod:`vitp_core.corpus.image_roots`); an image elsewhere
            is a bad record.
        probe_records: At the start, up to this many training records are loaded until
            one works; when none does (every record too long for ``max_seq_len``,
            every image unreadable...), the run stops with the reasons instead of
            training on nothing. 0 skips the probe.

    Raises:
        ValueError: On a setting that cannot work (``val_fraction`` outside ``[0, 1)``,
            ``batch_size`` below 1...), naming it.
    """

    def __init__(
        self,
        corpus: str | None = None,
        processor: SampleProcessor | None = None,
        batch_size: int = 8,
        num_workers: int = 0,
        val_fraction: float = 0.0,
        on_bad_record: OnBadRecord = "skip",
        seed: int = 0,
        demo_dir: str = "runs/demo_corpus",
        reliance_records: int = 64,
        max_image_pixels: int | None = None,
        allowed_image_roots: list[str] | None = None,
        probe_records: int = 32,
    ) -> None:
        super().__init__()
        check_data_settings(
            batch_size=batch_size,
            num_workers=num_workers,
            val_fraction=val_fraction,
            on_bad_record=on_bad_record,
            reliance_records=reliance_records,
            max_image_pixels=max_image_pixels,
            probe_records=probe_records,
        )
        self.save_hyperparameters(ignore=["processor"])  # recorded in checkpoints
        self.corpus = corpus
        self.processor = processor
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.val_fraction = val_fraction
        self.on_bad_record = on_bad_record
        self.seed = seed
        self.demo_dir = demo_dir
        self.reliance_records = reliance_records
        self.max_image_pixels = max_image_pixels
        self.allowed_image_roots = list(allowed_image_roots or [])
        self.probe_records = probe_records
        self.bad_records: list[BadRecordError] = []
        #: Training and validation records of a JSONL corpus (parsed on access).
        self.train_records: Sequence[InstructionRecord] = []
        self.val_records: Sequence[InstructionRecord] = []
        #: Held-out records of the image-reliance measurement (never trained on).
        self.held_out_records: list[InstructionRecord] = []
        self.sampler: ResumableRandomSampler | None = None
        self._resume_state: dict[str, int] | None = None
        self._shards: Any = None  # ShardCorpus of a shard folder
        self._shard_split: Any = None
        self._shard_counts: dict[str, int] = {}

    @property
    def corpus_path(self) -> Path:
        """The corpus file in use (the demo corpus when none was given)."""
        if self.corpus is not None:
            return Path(self.corpus)
        from vitp_core.corpus.demo import build_demo_corpus

        return Path(build_demo_corpus(self.demo_dir, seed=self.seed))

    def prepare_data(self) -> None:
        """Build the demo corpus once (rank 0) when no corpus is given."""
        _ = self.corpus_path

    def _reject(self, error: BadRecordError) -> None:
        if self.on_bad_record == "raise":
            raise error
        self.bad_records.append(error)
        log.warning("skipping bad record %s", error)

    def setup(self, stage: str | None = None) -> None:
        """Check the corpus (or open the shards); split off held-out and validation records."""
        if self.processor is None:
            raise ValueError("InstructionDataModule needs the model's processor (data.processor).")
        if self.train_records or self.val_records or self._shards is not None:
            return
        if is_shard_folder(self.corpus_path):
            self._setup_shards()
            self._probe()
            return
        index, ids, bad = scan_corpus(
            self.corpus_path, seed=self.seed, allowed_roots=self.allowed_image_roots
        )
        self.bad_records = []
        for error in bad:
            self._reject(error)
        if not len(index):
            raise ValueError(f"{self.corpus_path}: no usable record ({len(self.bad_records)} bad).")
        held, usable = _hold_out(ids, self.reliance_records, self.seed)
        self.held_out_records = [index[p] for p in held]
        random.Random(self.seed).shuffle(usable)  # mixtures list sources (often classes) in order
        n_val = int(len(usable) * self.val_fraction)
        self.val_records = index.subset(usable[:n_val])
        self.train_records = index.subset(usable[n_val:])
        if not self.train_records:
            self._nothing_to_train(len(usable), n_val)
        self._probe()

    def _nothing_to_train(self, usable: int, n_val: int) -> None:
        raise NoTrainingDataError(
            f"{self.corpus_path}: no record left to train on: {usable} usable "
            f"record(s), {len(self.held_out_records)} held out for image reliance, "
            f"{n_val} for validation (data.val_fraction {self.val_fraction}). Lower "
            "data.val_fraction or data.reliance_records, or add records."
        )

    def _setup_shards(self) -> None:
        """Open a shard folder: its bad records, held-out records and split."""
        from vitp_core.data.streaming import ShardCorpus, ShardItems

        shards = ShardCorpus(self.corpus_path)
        self.bad_records = []
        for error in read_bad_records(self.corpus_path):
            self._reject(error)
        split = shards.split(self.reliance_records, self.val_fraction, self.seed)
        self._shards, self._shard_split = shards, split
        held = ShardItems(
            self.corpus_path, shards.positions(split, "held_out"), self._shard_loader()
        )
        records = [held.loader.record(held.item(i)) for i in range(len(held))]
        self.held_out_records = [r for r in records if isinstance(r, InstructionRecord)]
        train, val = shards.positions(split, "train"), shards.positions(split, "val")
        self._shard_counts = {"train": len(train), "val": len(val)}
        if not len(train):
            self._nothing_to_train(len(train) + len(val), len(val))

    def _shard_loader(self, split: Any = None) -> Any:
        from vitp_core.data.streaming import ShardRecordLoader

        assert self.processor is not None and self._shards is not None
        return ShardRecordLoader(
            self._shards.entries,
            self.processor,
            self.on_bad_record,
            self.max_image_pixels,
            split,
        )

    def _probe(self) -> None:
        """Load training records until one works; stop the run when none of them does."""
        if self.probe_records <= 0 or self.processor is None:
            return
        dataset: Any
        if self._shards is not None:
            from vitp_core.data.streaming import ShardItems

            loader = self._shard_loader()
            loader.on_bad_record = "skip"
            positions = self._shards.positions(self._shard_split, "train")[: self.probe_records]
            dataset = ShardItems(self.corpus_path, positions, loader)
        else:
            dataset = InstructionDataset(
                self.train_records[: self.probe_records],
                self.processor,
                "skip",
                self.max_image_pixels,
            )
        errors: list[BadRecordError] = []
        for index in range(len(dataset)):
            item = dataset[index]
            if not isinstance(item, BadRecordError):
                return
            errors.append(item)
        raise NoTrainingDataError(
            f"{self.corpus_path}: the first {len(errors)} training record(s) all fail to "
            f"load, so the run would train on nothing: {_reasons(errors)}"
        )

    @property
    def num_records(self) -> int:
        """Usable records (train + validation; items with repeats for a shard folder)."""
        if self._shards is not None:
            return self._shard_counts["train"] + self._shard_counts["val"]
        return len(self.train_records) + len(self.val_records)

    def _collate(self) -> Any:
        assert self.processor is not None
        return functools.partial(
            collate_samples, pad_token_id=self.processor.tokenizer.pad_token_id
        )

    def _loader(
        self, records: Sequence[InstructionRecord] | Dataset, sampler: Any = None
    ) -> DataLoader:
        assert self.processor is not None
        dataset = (
            records
            if isinstance(records, Dataset)
            else InstructionDataset(
                records, self.processor, self.on_bad_record, self.max_image_pixels
            )
        )
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=self._collate(),
            persistent_workers=self.num_workers > 0,
        )

    def _trained_batches(self) -> int | None:
        """Batches of the current epoch the model has trained on (``None`` outside fit)."""
        trainer = self._trainer if hasattr(self, "_trainer") else None
        if trainer is None:
            return None
        return int(trainer.fit_loop.epoch_loop.batch_progress.current.processed)

    def _stream_loader(self) -> DataLoader:
        """LitData's streaming loader over the shards, resumable at the trained position."""
        from vitp_core.data.streaming import InstructionStream, ResumableStreamLoader

        stream = InstructionStream(
            self.corpus_path, self._shard_loader(self._shard_split), seed=self.seed
        )
        return ResumableStreamLoader(
            stream,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            collate_fn=self._collate(),
            trained_batches=self._trained_batches,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches; resumes mid-epoch after a checkpoint restore."""
        if self._shards is not None:
            return self._stream_loader()
        self.sampler = ResumableRandomSampler(len(self.train_records), seed=self.seed)
        if self._resume_state is not None:
            self.sampler.set_epoch(self._resume_state["epoch"])
            self.sampler.start_index = self._resume_state["start_index"]
            self._resume_state = None
        return self._loader(self.train_records, self.sampler)

    def val_dataloader(self) -> DataLoader | list:
        """Validation batches (empty without ``val_fraction``)."""
        if self._shards is not None:
            from vitp_core.data.streaming import ShardItems

            positions = self._shards.positions(self._shard_split, "val")
            items = ShardItems(self.corpus_path, positions, self._shard_loader())
            return self._loader(items) if len(positions) else []
        return self._loader(self.val_records) if self.val_records else []

    def state_dict(self) -> dict[str, Any]:
        """Data position for a mid-epoch resume: epoch and samples already trained on.

        A shard folder's stream position is the training loader's own state, which
        Lightning keeps in the checkpoint
        (:class:`~vitp_core.data.streaming.ResumableStreamLoader`).
        """
        trainer = self.trainer
        if trainer is None or self.sampler is None:
            return {}
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        consumed = done * self.batch_size * trainer.world_size
        return {
            "epoch": trainer.current_epoch,
            "start_index": self.sampler.start_index + consumed,
            "seed": self.seed,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the data position saved by :meth:`state_dict`."""
        if state_dict:
            self._resume_state = {
                "epoch": int(state_dict["epoch"]),
                "start_index": int(state_dict["start_index"]),
            }
