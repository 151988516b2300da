"""``metrics.csv`` that survives restarts: resumed runs append, nothing is deleted.

Lightning's ``CSVLogger`` deletes ``metrics.csv`` whenever a logger starts in a folder
that is not empty, so a resumed run (or a start that then fails) loses every earlier
row. :class:`AppendingCSVLogger` keeps the file: new rows are appended under the
existing header, and a new column rewrites the file atomically with all rows kept.
Rows that a crashed run logged after its last checkpoint stay; the resumed run's rows
for those steps follow them.
"""

from __future__ import annotations

import csv
import os
from typing import Any

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from vitp_core.atomic_io import atomic_path

__all__ = ["AppendingCSVLogger", "AppendingExperimentWriter"]


class AppendingExperimentWriter(ExperimentWriter):
    """Lightning's CSV writer without the deletion: it continues an existing file."""

    def _check_log_dir_exists(self) -> None:
        """Adopt the header of an existing ``metrics.csv`` instead of deleting the file."""
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="", encoding="utf-8") as handle:
                header = next(csv.reader(handle), [])
            self.metrics_keys = sorted(key for key in header if key)

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        """Rewrite the file with the new columns, every row kept, atomically."""
        with open(self.metrics_file_path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        with atomic_path(self.metrics_file_path) as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=fieldnames)
                writer.writeheader()
                writer.writerows(rows)


class AppendingCSVLogger(CSVLogger):
    """``CSVLogger`` whose ``metrics.csv`` is appended to across starts (see module doc)."""

    @property
    def experiment(self) -> Any:
        """The writer, created on first use (it never deletes an existing file)."""
        if self._experiment is not None:
            return self._experiment
        self._fs.makedirs(self.root_dir, exist_ok=True)
        self._experiment = AppendingExperimentWriter(log_dir=self.log_dir)
        return self._experiment
