"""InstructionDataModule: a Lightning data module over an instruction corpus."""

from __future__ import annotations

import functools
import logging
import random
from pathlib import Path
from typing import Any

import lightning as L
from torch.utils.data import DataLoader

from vitp_core.corpus.reader import read_corpus
from vitp_core.corpus.records import BadRecordError, InstructionRecord
from vitp_core.data.collate import collate_samples
from vitp_core.data.dataset import InstructionDataset, OnBadRecord
from vitp_core.data.processor import SampleProcessor
from vitp_core.data.sampler import ResumableRandomSampler

__all__ = ["InstructionDataModule"]

log = logging.getLogger(__name__)


def _missing_images(record: InstructionRecord) -> BadRecordError | None:
    for path in record.images:
        if not path.is_file():
            return BadRecordError(record.source, f"image {path} not found.")
    return None


def _hold_out(
    records: list[InstructionRecord], wanted: int, seed: int
) -> tuple[list[InstructionRecord], list[InstructionRecord]]:
    """Split off up to ``wanted`` records (by id: repeats of a held-out record go too).

    At most a fifth of the distinct records are held out, and none from corpora under 10.
    """
    ids = sorted({record.id for record in records})
    count = min(wanted, len(ids) // 5) if len(ids) >= 10 else 0
    chosen = set(random.Random(seed).sample(ids, count)) if count else set()
    held, seen = [], set()
    for record in records:
        if record.id in chosen and record.id not in seen:
            held.append(record)
            seen.add(record.id)
    return held, [record for record in records if record.id not in chosen]


class InstructionDataModule(L.LightningDataModule):
    """Batches of instruction records for ViTP pretraining.

    Records that cannot be used are never fatal with ``on_bad_record="skip"``: malformed
    JSON, schema problems and missing images are found when the corpus is read; corrupt
    images and over-long sequences when a record is loaded. All are counted, with file,
    line and reason, in :attr:`bad_records` and the batches' ``skipped`` lists.

    Args:
        corpus: A ``.jsonl`` corpus or a mixture ``.json``; ``None`` builds and uses the
            embedded demo corpus (procedurally generated, not real data) in ``demo_dir``.
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
    ) -> None:
        super().__init__()
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
        self.bad_records: list[BadRecordError] = []
        self.train_records: list[InstructionRecord] = []
        self.val_records: list[InstructionRecord] = []
        #: Held-out records of the image-reliance measurement (never trained on).
        self.held_out_records: list[InstructionRecord] = []
        self.sampler: ResumableRandomSampler | None = None
        self._resume_state: dict[str, int] | None = None

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
        """Read and check the corpus; split off validation records."""
        if self.processor is None:
            raise ValueError("InstructionDataModule needs the model's processor (data.processor).")
        if self.train_records or self.val_records:
            return
        records, bad = read_corpus(self.corpus_path, seed=self.seed)
        self.bad_records = []
        for error in bad:
            self._reject(error)
        usable = []
        for record in records:
            error = _missing_images(record)
            if error is None:
                usable.append(record)
            else:
                self._reject(error)
        if not usable:
            raise ValueError(f"{self.corpus_path}: no usable record ({len(self.bad_records)} bad).")
        self.held_out_records, usable = _hold_out(usable, self.reliance_records, self.seed)
        random.Random(self.seed).shuffle(usable)  # mixtures list sources (often classes) in order
        n_val = int(len(usable) * self.val_fraction)
        self.val_records, self.train_records = usable[:n_val], usable[n_val:]

    @property
    def num_records(self) -> int:
        """Usable records (train + validation)."""
        return len(self.train_records) + len(self.val_records)

    def _loader(self, records: list[InstructionRecord], sampler: Any = None) -> DataLoader:
        assert self.processor is not None
        return DataLoader(
            InstructionDataset(records, self.processor, self.on_bad_record),
            batch_size=self.batch_size,
            sampler=sampler,
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=functools.partial(
                collate_samples, pad_token_id=self.processor.tokenizer.pad_token_id
            ),
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches; resumes mid-epoch after a checkpoint restore."""
        self.sampler = ResumableRandomSampler(len(self.train_records), seed=self.seed)
        if self._resume_state is not None:
            self.sampler.set_epoch(self._resume_state["epoch"])
            self.sampler.start_index = self._resume_state["start_index"]
            self._resume_state = None
        return self._loader(self.train_records, self.sampler)

    def val_dataloader(self) -> DataLoader | list:
        """Validation batches (empty without ``val_fraction``)."""
        return self._loader(self.val_records) if self.val_records else []

    def state_dict(self) -> dict[str, Any]:
        """Data position for a mid-epoch resume: epoch and samples already trained on."""
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
