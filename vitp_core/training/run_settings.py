"""The settings that define a run: a resume must not change them.

A run's export records its architecture, VRL settings and corpus; a resume (``--ckpt_path``)
that quietly trained on with another ``vrl_ratio``, corpus or model would make that record
wrong. vitp therefore *refuses* such a resume (it does not record the change): the
checkpoint keeps the settings the run was started with, and :func:`changed_settings`
lists every difference. Settings that do not change what the run is -- learning rate,
schedule, ``max_steps``, batch size, workers, logging -- may change on resume. To go on
from a run with other settings, start a new stage in a new run folder with
``--model.init_from <run>``: the export's ``lineage`` then records both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "ARCHITECTURE_KEYS",
    "RUN_DEFINING_DATA_KEYS",
    "RUN_DEFINING_MODEL_KEYS",
    "ResumeSettingsError",
    "changed_settings",
    "check_resume_settings",
]

#: Module settings that define the architecture; a run started from another run takes
#: them from it (they must match its weights).
ARCHITECTURE_KEYS: tuple[str, ...] = (
    "vit",
    "vit_kwargs",
    "img_size",
    "in_chans",
    "band_names",
    "mean",
    "std",
    "lm",
    "lm_config",
    "tokenizer",
    "architecture_origin",
)
#: Model settings that define a run (architecture, start, VRL, what trains, the input).
RUN_DEFINING_MODEL_KEYS: tuple[str, ...] = (
    *(key for key in ARCHITECTURE_KEYS if key != "architecture_origin"),
    "init_from",
    "vit_weights",
    "vrl_ratio",
    "vrl_apply_prob",
    "vrl_mode",
    "freeze_vit",
    "freeze_projector",
    "freeze_lm",
    "dynamic_tiling",
    "max_tiles",
    "use_thumbnail",
    "max_seq_len",
    "optimizer_recipe",
)
#: Data settings that define a run (the corpus and how it is split).
RUN_DEFINING_DATA_KEYS: tuple[str, ...] = ("corpus", "seed", "val_fraction", "reliance_records")


class ResumeSettingsError(ValueError):
    """A resume would change a setting that defines the run."""


def _same_path(a: Any, b: Any) -> bool:
    if not isinstance(a, str | os.PathLike) or not isinstance(b, str | os.PathLike):
        return False
    return os.fspath(a) == os.fspath(b) or Path(a).resolve() == Path(b).resolve()


def _normalise(value: Any) -> Any:
    """Compare tuples and lists, and nested mappings, alike."""
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    return value


def changed_settings(
    saved: Mapping[str, Any], current: Mapping[str, Any], keys: tuple[str, ...], prefix: str
) -> list[str]:
    """``"prefix.key: saved -> current"`` for every run-defining key that differs.

    Keys absent from ``saved`` (checkpoints of older versions) are not compared.
    """
    changes = []
    for key in keys:
        if key not in saved:
            continue
        old, new = saved.get(key), current.get(key)
        if _normalise(old) == _normalise(new) or (key == "corpus" and _same_path(old, new)):
            continue
        changes.append(f"{prefix}.{key}: {old!r} -> {new!r}")
    return changes


def check_resume_settings(
    checkpoint: str | os.PathLike[str],
    saved_model: Mapping[str, Any],
    current_model: Mapping[str, Any],
    saved_data: Mapping[str, Any] | None = None,
    current_data: Mapping[str, Any] | None = None,
) -> None:
    """Refuse a resume that changes a run-defining setting.

    Args:
        checkpoint: The checkpoint resumed from (named in the error).
        saved_model: The model settings the run was started with.
        current_model: The model settings of this start.
        saved_data: The data settings the run was started with (``None``: not compared).
        current_data: The data settings of this start.

    Raises:
        ResumeSettingsError: Listing every changed setting and what to do instead.
    """
    changes = changed_settings(saved_model, current_model, RUN_DEFINING_MODEL_KEYS, "model")
    if saved_data is not None and current_data is not None:
        changes += changed_settings(saved_data, current_data, RUN_DEFINING_DATA_KEYS, "data")
    if not changes:
        return
    checkpoint = Path(checkpoint)
    run = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint
    raise ResumeSettingsError(
        f"cannot resume from {checkpoint} with changed run-defining settings ("
        + "; ".join(changes)
        + "): the export would record settings the run was not trained with. Resume with the "
        f"run's own settings (its config.yaml), or start a new stage in a new run folder "
        f"with --model.init_from {run}."
    )
