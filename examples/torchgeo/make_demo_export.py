"""Write a `vitp export`-format backbone for the TorchGeo examples when no pretraining run exists.

The example YAMLs read ``runs/torchgeo/backbone.safetensors``. The real one comes from
``vitp pretrain`` followed by ``vitp export``; this script writes a file in the same
format (safetensors + JSON sidecar, via ``vitp_core.export.export_backbone``) so that the
examples run end to end on a fresh checkout. If a pretraining run's export exists
(``--from runs/<run>/backbone.safetensors``), it is copied instead.

Its weights are a seeded *random initialisation*: figures obtained from it measure the
pipeline, not ViTP pretraining.

    python examples/torchgeo/make_demo_export.py                      # random-init ViT-Tiny
    python examples/torchgeo/make_demo_export.py --from runs/x/backbone.safetensors
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

from vitp_core.backbone import create_backbone
from vitp_core.export import BackboneMetadata, export_backbone, sidecar_path

RGB_MEAN = [123.675, 116.28, 103.53]
RGB_STD = [58.395, 57.12, 57.375]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/torchgeo/backbone.safetensors"))
    parser.add_argument("--from", dest="source", type=Path, help="copy this vitp export")
    parser.add_argument("--model", default="vitp_tiny_patch16_224")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.source is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.source, args.out)
        shutil.copyfile(sidecar_path(args.source), sidecar_path(args.out))
        print(f"copied {args.source} -> {args.out}")
        return

    torch.manual_seed(args.seed)
    vit = create_backbone(args.model, in_chans=3, img_size=args.img_size)
    metadata = BackboneMetadata(
        model=args.model,
        img_size=(args.img_size, args.img_size),
        patch_size=vit.patch_embed.patch_size[0],
        in_chans=3,
        embed_dim=vit.embed_dim,
        band_names=["red", "green", "blue"],
        mean=RGB_MEAN,
        std=RGB_STD,
        corpus={"name": "none: seeded random initialisation (demo)", "seed": args.seed},
        vrl={},
        steps=0,
    )
    export_backbone(vit, args.out, metadata)
    print(f"wrote {args.out} and {sidecar_path(args.out)} (random init, seed {args.seed})")


if __name__ == "__main__":
    main()
