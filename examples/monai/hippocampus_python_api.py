"""Hippocampus segmentation with a ViTP backbone through the Python API (no bundle).

The same pipeline as the segmentation bundle, written with MONAI objects directly:
``LoadImaged`` (nibabel) -> orientation/spacing/intensity -> ``VitpUNETR`` trained with
``DiceCELoss``, validated with ``sliding_window_inference`` + ``DiceMetric``; the
predictions are written as NIfTI with ``SaveImage`` and the mean Dice is printed and saved
to ``bench/results/monai_hippocampus_python_api.json``.

Example (short CPU run; data root from --data or $VITP_DATA)::

    python examples/monai/hippocampus_python_api.py --epochs 5 --max-train 60 --max-val 52

Without --weights the backbone is randomly initialised (no pretrained ViTP weights exist on
this machine), so the figure measures the pipeline, not ViTP pretraining.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from monai.data import CacheDataset, DataLoader, decollate_batch
from monai.inferers import sliding_window_inference
from monai.losses import DiceCELoss
from monai.metrics import DiceMetric
from monai.transforms import (
    AsDiscrete,
    Compose,
    EnsureChannelFirstd,
    EnsureTyped,
    LoadImaged,
    NormalizeIntensityd,
    Orientationd,
    RandCropByPosNegLabeld,
    RandFlipd,
    SaveImage,
    Spacingd,
    SpatialPadd,
)
from monai.utils import set_determinism

from vitp_core.atomic_io import atomic_write_json
from vitp_monai.data import paired_nifti_datalist
from vitp_monai.networks import VitpUNETR

REPO = Path(__file__).resolve().parents[2]


def _relative_to_repo(path: Path) -> str:
    """A path as recorded in the results JSON: relative to the repository when inside it."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)


ROI = (32, 48, 32)
NUM_CLASSES = 3


def transforms(train: bool) -> Compose:
    """Deterministic preprocessing, plus random crops/flips for training."""
    keys = ["image", "label"]
    steps = [
        LoadImaged(keys, image_only=True),
        EnsureChannelFirstd(keys),
        Orientationd(keys, axcodes="RAS"),
        Spacingd(keys, pixdim=(1.0, 1.0, 1.0), mode=("bilinear", "nearest")),
        NormalizeIntensityd("image", nonzero=True, channel_wise=True),
        EnsureTyped(keys),
    ]
    if train:
        steps += [
            SpatialPadd(keys, spatial_size=ROI),
            RandCropByPosNegLabeld(keys, "label", spatial_size=ROI, pos=2, neg=1, num_samples=2),
            RandFlipd(keys, prob=0.5, spatial_axis=0),
        ]
    return Compose(steps)


def train_epoch(
    net: VitpUNETR, loader: DataLoader, loss_fn: DiceCELoss, optim: torch.optim.Optimizer
) -> float:
    net.train()
    total = 0.0
    for batch in loader:
        optim.zero_grad()
        loss = loss_fn(net(batch["image"]), batch["label"])
        loss.backward()
        optim.step()
        total += loss.item()
    return total / max(1, len(loader))


@torch.no_grad()
def evaluate(net: VitpUNETR, loader: DataLoader, save_dir: Path | None = None) -> float:
    """Mean Dice (background excluded) with sliding-window inference over whole volumes."""
    net.eval()
    metric = DiceMetric(include_background=False, reduction="mean")
    to_pred, to_label = (
        AsDiscrete(argmax=True, to_onehot=NUM_CLASSES),
        AsDiscrete(to_onehot=NUM_CLASSES),
    )
    saver = None
    if save_dir is not None:
        saver = SaveImage(
            output_dir=save_dir,
            output_postfix="seg",
            output_dtype="uint8",
            resample=False,
            separate_folder=False,
            print_log=False,
        )
    for batch in loader:
        logits = sliding_window_inference(
            batch["image"], ROI, sw_batch_size=4, predictor=net, overlap=0.5
        )
        for pred, label in zip(
            decollate_batch(logits), decollate_batch(batch["label"]), strict=True
        ):
            if saver is not None:
                saver(pred.argmax(0, keepdim=True).to(torch.uint8), meta_data=pred.meta)
            metric(y_pred=[to_pred(pred)], y=[to_label(label)])
    return float(metric.aggregate().item())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", default=os.environ.get("VITP_DATA", str(REPO.parent / "shared/data"))
    )
    parser.add_argument("--weights", help="ViTP export to start from (default: random init).")
    parser.add_argument("--backbone", default="vitp_tiny_patch16_224")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--max-train", type=int, default=60)
    parser.add_argument("--max-val", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "runs" / "monai" / "hippocampus_python_api"))
    args = parser.parse_args()

    set_determinism(seed=0)
    root = Path(args.data) / "med" / "hippocampus"
    train_ds = CacheDataset(
        paired_nifti_datalist(root, "train", 0.2, args.max_train), transforms(True)
    )
    val_ds = CacheDataset(paired_nifti_datalist(root, "val", 0.2, args.max_val), transforms(False))
    train_loader = DataLoader(train_ds, batch_size=2, shuffle=True)
    val_loader = DataLoader(val_ds, batch_size=1)
    net = VitpUNETR(
        1,
        NUM_CLASSES,
        img_size=ROI,
        backbone=None if args.weights else args.backbone,
        feature_size=8,
        pretrained=args.weights,
    )
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, squared_pred=True, batch=True)
    optim = torch.optim.AdamW(net.parameters(), lr=3e-4, weight_decay=1e-5)
    start = time.time()
    for epoch in range(1, args.epochs + 1):
        loss = train_epoch(net, train_loader, loss_fn, optim)
        print(f"epoch {epoch}/{args.epochs}: train loss {loss:.4f}", flush=True)
    train_s = time.time() - start
    out = Path(args.out)
    dice = evaluate(net, val_loader, save_dir=out / "predictions")
    print(f"mean Dice over {len(val_ds)} validation cases (background excluded): {dice:.4f}")
    result = {
        "experiment": "hippocampus_python_api",
        "backbone": args.backbone,
        "weights": args.weights,
        "pretrained": bool(args.weights),
        "roi": list(ROI),
        "epochs": args.epochs,
        "train_cases": len(train_ds),
        "val_cases": len(val_ds),
        "train_seconds": round(train_s, 1),
        "mean_dice": dice,
        "predictions": _relative_to_repo(out / "predictions"),
    }
    atomic_write_json(REPO / "bench" / "results" / "monai_hippocampus_python_api.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
