"""``vitp monai-bundle``: create and check MONAI bundles for ViTP backbones.

Registered with the ``vitp`` command through the ``vitp.commands`` entry point::

    vitp monai-bundle init --weights backbone.safetensors --out my_bundle/
    vitp monai-bundle init --task classification --roi-size 32 32 32 --patch-size 8 --out adrenal/
    vitp monai-bundle init --task segmentation2d --roi-size 256 256 --out fundus/
    vitp monai-bundle verify my_bundle/
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register"]


def _init(args: argparse.Namespace) -> int:
    from vitp_core.export import BackboneChecksumError
    from vitp_monai.bundles import init_bundle

    try:
        out = init_bundle(
            args.out,
            task=args.task,
            weights=args.weights,
            backbone=args.backbone,
            backbone_kwargs=json.loads(args.backbone_kwargs) if args.backbone_kwargs else None,
            roi_size=args.roi_size,
            in_channels=args.in_channels,
            num_classes=args.num_classes,
            class_names=args.class_names,
            patch_size=args.patch_size,
            modality=args.modality,
            dataset_dir=args.dataset_dir,
            overwrite=args.force,
            verify_checksum=args.verify_checksum,
        )
    except BackboneChecksumError as err:  # a tampered export, or one without a checksum
        print(
            f"vitp monai-bundle init: error: {err} To copy a file you trust as it is: "
            "--no-verify-checksum.",
            file=sys.stderr,
        )
        return 2
    print(f"Wrote MONAI {args.task} bundle to {out}")
    print(
        f"  train:     cd {out} && python -m monai.bundle run --config_file configs/train.json "
        "--dataset_dir <data>"
    )
    if (out / "configs" / "evaluate.json").is_file():
        print(
            "  evaluate:  python -m monai.bundle run --config_file configs/evaluate.json "
            "--dataset_dir <labelled data>"
        )
    print(
        "  inference: python -m monai.bundle run --config_file configs/inference.json "
        "--dataset_dir <data>"
    )
    return 0


def _verify(args: argparse.Namespace) -> int:
    from vitp_monai.bundles import verify_bundle

    problems = verify_bundle(
        args.bundle, dataset_dir=args.dataset_dir, check_network=not args.skip_network
    )
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    if not problems:
        print(f"{args.bundle}: metadata, train/inference properties and network I/O verified.")
    return 1 if problems else 0


def _add_init(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "init",
        help="Create a bundle (configs, models, docs), optionally from a ViTP export.",
        description="Create a MONAI bundle whose network_def is a vitp_monai network.",
    )
    parser.add_argument("--out", required=True, help="Bundle folder to create.")
    parser.add_argument(
        "--task",
        choices=("segmentation", "classification", "segmentation2d", "classification2d"),
        default="segmentation",
        help="Bundle template: segmentation (NIfTI volumes), classification (MedMNIST .npz), "
        "segmentation2d (image folders with masks), classification2d (class folders or a "
        "labels file). Default: segmentation.",
    )
    parser.add_argument(
        "--weights",
        help="ViTP export (backbone.safetensors + backbone.json) to start from "
        "(default: none, random init).",
    )
    parser.add_argument("--backbone", help="timm/ViTP model name (default: from the export).")
    parser.add_argument(
        "--backbone-kwargs",
        help="JSON of extra timm.create_model arguments, e.g. '{\"depth\": 6}' "
        "(default: the export's).",
    )
    parser.add_argument(
        "--roi-size",
        type=int,
        nargs="+",
        help="Training patch / input size, 2 or 3 numbers (default: the template's).",
    )
    parser.add_argument("--in-channels", type=int, help="Input channels (default: the template's).")
    parser.add_argument(
        "--num-classes", type=int, help="Classes, with background (default: the template's)."
    )
    parser.add_argument("--class-names", nargs="+", help="One name per class (default: numbered).")
    parser.add_argument(
        "--patch-size",
        type=int,
        help="ViT patch size (default: the backbone's).",
    )
    parser.add_argument(
        "--modality",
        help="Input modality for metadata.json: MR, CT, XR... (default: the template's).",
    )
    parser.add_argument(
        "--dataset-dir", help="dataset_dir of the configs (default: given at run time)."
    )
    parser.add_argument("--force", action="store_true", help="Overwrite an existing bundle.")
    parser.add_argument(
        "--no-verify-checksum",
        dest="verify_checksum",
        action="store_false",
        help="Copy --weights even when its sidecar records no SHA-256 or another one "
        "(a file you trust); the bundle's copy then records the checksum of the copied file.",
    )
    parser.set_defaults(func=_init)


def _add_verify(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "verify",
        help="Run MONAI's bundle checks (verify_metadata, properties, verify_net_in_out).",
    )
    parser.add_argument("bundle", help="Bundle folder.")
    parser.add_argument(
        "--dataset-dir",
        help="Data to build the workflows with (full MONAI property check); without it only "
        "the presence of the required properties is checked (default: none).",
    )
    parser.add_argument(
        "--skip-network",
        action="store_true",
        help="Do not build and run network_def.",
    )
    parser.set_defaults(func=_verify)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``monai-bundle`` sub-command to the ``vitp`` parser."""
    parser = subparsers.add_parser(
        "monai-bundle",
        help="Create and check MONAI bundles for ViTP backbones.",
        description="Create and check MONAI bundles whose networks are ViTP backbones.",
    )
    actions = parser.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)
    _add_init(actions)
    _add_verify(actions)
