"""A seeded random sampler that can resume in the middle of an epoch."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

__all__ = ["ResumableRandomSampler"]


class ResumableRandomSampler(Sampler[int]):
    """Shuffle with a ``(seed, epoch)``-determined order and start anywhere in it.

    Lightning wraps it with a distributed sampler under DDP, which shards the same
    order across ranks.

    Args:
        num_samples: Dataset length.
        seed: Base seed of the shuffle.
    """

    def __init__(self, num_samples: int, seed: int = 0) -> None:
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = 0
        self.start_index = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's order; a new epoch starts from its beginning."""
        if epoch != self.epoch:
            self.start_index = 0
        self.epoch = epoch

    def order(self) -> list[int]:
        """The full index order of the current epoch."""
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return torch.randperm(self.num_samples, generator=generator).tolist()

    def __iter__(self) -> Iterator[int]:
        yield from self.order()[self.start_index :]

    def __len__(self) -> int:
        # The full epoch length, also on a resumed epoch: Lightning sizes every epoch from
        # it once, and a shorter first epoch simply ends early.
        return self.num_samples
