"""Tiny seeded backbones, ViTP exports and NIfTI/MedMNIST datasets for the vitp_monai tests."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from vitp_core.backbone import create_backbone
from vitp_core.export import BackboneMetadata, export_backbone

#: A ViTP-tiny shrunk to test size: 2 blocks, width 32, 2 heads.
TINY = {"depth": 2, "embed_dim": 32, "num_heads": 2}


def tiny_vit(**overrides: object) -> torch.nn.Module:
    """A seeded tiny timm ViT with non-trivial weights (LayerScale/biases not at init)."""
    torch.manual_seed(0)
    kwargs = {**TINY, "img_size": 32, **overrides}
    vit = create_backbone("vitp_tiny_patch16_224", **kwargs)
    with torch.no_grad():
        for param in vit.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    return vit.eval()


def write_export(folder: Path, img_size: int = 64, in_chans: int = 3) -> Path:
    """Export a tiny ViTP backbone (safetensors + JSON sidecar) and return the weights path."""
    vit = tiny_vit(img_size=img_size, in_chans=in_chans)
    meta = BackboneMetadata(
        model="vitp_tiny_patch16_224",
        model_kwargs=dict(TINY),
        img_size=(img_size, img_size),
        patch_size=16,
        in_chans=in_chans,
        embed_dim=TINY["embed_dim"],
    )
    return export_backbone(vit, folder / "backbone.safetensors", meta)


def write_nifti_dataset(
    folder: Path, num_cases: int = 4, shape: tuple[int, ...] = (19, 23, 17), seed: int = 0
) -> Path:
    """Write seeded random NIfTI images and 3-class labels (blob in the middle) with nibabel."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    for case in range(num_cases):
        image = rng.normal(100.0, 20.0, shape).astype(np.float32)
        label = np.zeros(shape, dtype=np.uint8)
        centre = tuple(s // 2 for s in shape)
        label[tuple(slice(c - 3, c) for c in centre)] = 1
        label[tuple(slice(c, c + 3) for c in centre)] = 2
        image[label > 0] += 50.0
        affine = np.eye(4)
        name = f"case_{case:03d}.nii.gz"
        nib.save(nib.Nifti1Image(image, affine), folder / "images" / name)
        nib.save(nib.Nifti1Image(label, affine), folder / "labels" / name)
    return folder


def write_medmnist(
    path: Path, spatial: tuple[int, ...] = (28, 28), n: int = 8, seed: int = 0
) -> Path:
    """Write a seeded MedMNIST-style .npz with train/val/test splits."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, *spatial), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 2).astype(np.uint8)[:, None]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path
