"""Turn hippocampus MRI volumes into a plain folder of 2D PNG images with masks.

A real folder of 2D medical images with masks, laid out as a user's own would be, for the
2D segmentation bundle (``vitp monai-bundle init --task segmentation2d``): the axial slice
with the most labelled voxels of each volume of ``$VITP_DATA/med/hippocampus`` becomes
``images/<case>.png`` (intensities scaled to 0-255) and ``masks/<case>.png`` (0
background, 1 anterior, 2 posterior).

    python examples/monai/hippocampus_slices.py --out runs/data/hippocampus_png [--cases 60]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("VITP_DATA", "../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/data/hippocampus_png"))
    parser.add_argument("--cases", type=int, default=60, help="volumes to slice")
    args = parser.parse_args()
    root = Path(args.data) / "med" / "hippocampus"
    volumes = sorted((root / "images").glob("*.nii.gz"))[: args.cases]
    if not volumes:
        raise SystemExit(f"No volumes in {root}/images: pass --data or set VITP_DATA.")
    for folder in ("images", "masks"):
        (args.out / folder).mkdir(parents=True, exist_ok=True)
    for path in volumes:
        image = np.asarray(nib.load(path).dataobj, dtype=np.float32)
        label = np.asarray(nib.load(root / "labels" / path.name).dataobj, dtype=np.uint8)
        index = int(np.argmax((label > 0).sum(axis=(0, 1))))  # the slice with most foreground
        plane, mask = image[:, :, index], label[:, :, index]
        low, high = np.percentile(plane, [0.5, 99.5])
        scaled = np.clip((plane - low) / max(high - low, 1e-6) * 255, 0, 255).astype(np.uint8)
        name = path.name.replace(".nii.gz", ".png")
        Image.fromarray(scaled).save(args.out / "images" / name)
        Image.fromarray(mask).save(args.out / "masks" / name)
    print(f"wrote {len(volumes)} image/mask PNG pairs to {args.out}/images and {args.out}/masks")


if __name__ == "__main__":
    main()
