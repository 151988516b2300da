"""Check a bundle the way MONAI does: metadata schema, workflow properties, network I/O."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from monai.utils import BundleProperty, BundlePropertyConfig

from vitp_monai.bundles.create import METADATA_SCHEMA_PATH

__all__ = ["verify_bundle"]

#: Config file -> MONAI workflow type whose required properties it must define.
_WORKFLOWS = {"train.json": "train", "inference.json": "infer", "evaluate.json": "infer"}


def _missing_properties(workflow: Any, dataset_dir: str | None) -> list[str]:
    """Required properties absent from a workflow's config.

    With ``dataset_dir`` MONAI's ``check_properties`` runs, which instantiates every
    property (datasets included); without, only the presence of the required config IDs
    is checked, so no data is needed.
    """
    if dataset_dir is not None:
        workflow.initialize()
        return list(workflow.check_properties() or [])
    return [
        name
        for name, prop in workflow.properties.items()
        if prop.get(BundleProperty.REQUIRED)
        and prop[BundlePropertyConfig.ID] not in workflow.parser
    ]


def _root_cause(err: BaseException) -> str:
    """The innermost exception of a chain (MONAI wraps config errors in RuntimeError)."""
    while err.__cause__ is not None:
        err = err.__cause__
    return f"{type(err).__name__}: {err}"


def verify_bundle(
    bundle_dir: str | os.PathLike[str],
    dataset_dir: str | os.PathLike[str] | None = None,
    check_network: bool = True,
) -> list[str]:
    """Verify ``metadata.json``, the train/inference properties and the network's I/O.

    Uses MONAI's own checks: ``monai.bundle.verify_metadata`` (with the packaged schema as
    ``filepath``, so nothing is downloaded), ``ConfigWorkflow.check_properties`` and
    ``monai.bundle.verify_net_in_out``.

    Args:
        bundle_dir: Bundle folder with ``configs/``.
        dataset_dir: Data to instantiate the workflows with (full property check); without
            it only the presence of the required properties is checked.
        check_network: Also build ``network_def`` and run it on fake input.

    Returns:
        Problems found (empty when the bundle is valid).
    """
    from monai.bundle import ConfigWorkflow, verify_metadata, verify_net_in_out

    configs = Path(bundle_dir) / "configs"
    meta_file = str(configs / "metadata.json")
    problems: list[str] = []
    try:
        verify_metadata(meta_file=meta_file, filepath=str(METADATA_SCHEMA_PATH))
    except ValueError as err:
        problems.append(f"metadata.json: {err}")
    for name, workflow_type in _WORKFLOWS.items():
        if not (configs / name).is_file():
            continue
        overrides = {} if dataset_dir is None else {"dataset_dir": os.fspath(dataset_dir)}
        workflow = ConfigWorkflow(
            config_file=str(configs / name),
            meta_file=meta_file,
            workflow_type=workflow_type,
            logging_file=False,
            bundle_root=str(bundle_dir),
            **overrides,
        )
        try:
            missing = _missing_properties(workflow, overrides.get("dataset_dir"))
        except (RuntimeError, ValueError, KeyError, OSError) as err:
            problems.append(f"{name}: building the workflow failed: {_root_cause(err)}")
            continue
        if missing:
            problems.append(f"{name}: missing or wrongly referenced properties {missing}")
    if check_network:
        try:
            verify_net_in_out(
                net_id="network_def",
                meta_file=meta_file,
                config_file=str(configs / "inference.json"),
                device="cpu",
                bundle_root=str(Path(bundle_dir)),
            )
        except (ValueError, KeyError, RuntimeError) as err:
            problems.append(f"network_def: {err}")
    return problems
