"""Checks of the data settings, importable without the training libraries."""

from __future__ import annotations

__all__ = ["DATA_SETTINGS", "check_data_settings"]

#: The data settings :func:`check_data_settings` checks.
DATA_SETTINGS = (
    "batch_size",
    "num_workers",
    "val_fraction",
    "on_bad_record",
    "reliance_records",
    "max_image_pixels",
    "probe_records",
)


def check_data_settings(
    *,
    batch_size: int = 1,
    num_workers: int = 0,
    val_fraction: float = 0.0,
    on_bad_record: str = "skip",
    reliance_records: int = 0,
    max_image_pixels: int | None = None,
    probe_records: int = 0,
) -> None:
    """Refuse data settings that cannot work, naming the option and what it accepts.

    Raises:
        ValueError: ``data.<option> <value>: <what is accepted>``.
    """
    problems = [
        ("batch_size", batch_size, batch_size >= 1, "must be 1 or more"),
        ("num_workers", num_workers, num_workers >= 0, "must be 0 or more"),
        (
            "val_fraction",
            val_fraction,
            0.0 <= val_fraction < 1.0,
            "is the share of records held out for validation: 0 (none) up to below 1",
        ),
        ("on_bad_record", on_bad_record, on_bad_record in ("skip", "raise"), "is skip or raise"),
        ("reliance_records", reliance_records, reliance_records >= 0, "must be 0 or more"),
        (
            "max_image_pixels",
            max_image_pixels,
            max_image_pixels is None or max_image_pixels > 0,
            "must be a positive number of pixels (or null for the default)",
        ),
        ("probe_records", probe_records, probe_records >= 0, "must be 0 or more"),
    ]
    for name, value, ok, accepted in problems:
        if not ok:
            raise ValueError(f"data.{name} {value!r}: {accepted}.")
