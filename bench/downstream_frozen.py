"""Frozen-feature evaluations of the downstream study: linear probe, k-NN, corruptions.

Features are the mean of the ViT's final patch tokens (class token excluded: ViTP never
trains it), extracted once per backbone. Probes are scikit-learn logistic regressions on
standardised features; k-NN is a cosine, distance-weighted 20-NN vote.

Held-out images only:

* RSSCN7 test split (1,400): halves by position inside each class (even: probe/fine-tune
  training, odd: evaluation), the same for every method.
* Corruptions (as REOBench) are applied to the RSSCN7 evaluation half at its native
  128 px, before resizing: Gaussian noise, Gaussian blur, JPEG, band dropout.
* PneumoniaMNIST: probe trained on the official val split, tested on test (train was
  pretrained on). BreastMNIST: train -> test (never pretrained on: transfer).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import kornia.augmentation as K
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from vitp_core.data.processor import IMAGENET_MEAN, IMAGENET_STD
from vitp_torchgeo.datasets import RSSCN7

__all__ = [
    "CORRUPTIONS",
    "LabelledImages",
    "frozen_metrics",
    "medmnist_split",
    "normalise",
    "rsscn7_halves",
]

#: REOBench-style corruptions at one fixed severity, applied to 0-1 RGB batches.
CORRUPTIONS: dict[str, nn.Module] = {
    "gaussian_noise": K.RandomGaussianNoise(mean=0.0, std=0.08, p=1.0),
    "gaussian_blur": K.RandomGaussianBlur((7, 7), (2.0, 2.0), p=1.0),
    "jpeg": K.RandomJPEG(jpeg_quality=(10.0, 10.0), p=1.0),
    "band_dropout": K.RandomChannelDropout(num_drop_channels=1, fill_value=0.0, p=1.0),
}


@dataclass
class LabelledImages:
    """A set of images and labels.

    Attributes:
        images: ``(N, 3, S, S)`` float, 0-1, at the backbone's input size.
        labels: ``(N,)`` int class indices.
    """

    images: torch.Tensor
    labels: np.ndarray


def normalise(images: torch.Tensor) -> torch.Tensor:
    """0-1 RGB -> ImageNet-normalised, as ViTP's processor does."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=images.dtype)[:, None, None]
    return (images - mean) / std


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    return nn.functional.interpolate(
        images, size=(size, size), mode="bicubic", align_corners=False, antialias=True
    ).clamp(0, 1)


@functools.cache
def rsscn7_halves(
    data: Path, size: int
) -> tuple[LabelledImages, LabelledImages, dict[str, torch.Tensor]]:
    """RSSCN7 test split as (train half, eval half, corrupted eval halves).

    Args:
        data: Data root.
        size: Backbone input side in pixels.

    Returns:
        Train half, clean evaluation half, and ``{corruption: (N, 3, S, S)}``.
    """
    dataset = RSSCN7(data / "rs" / "rsscn7", split="test")
    native = torch.stack([dataset[i]["image"] for i in range(len(dataset))]) / 255.0
    labels = np.array([int(dataset[i]["label"]) for i in range(len(dataset))])
    position = np.zeros(len(labels), dtype=int)
    for label in np.unique(labels):
        where = np.flatnonzero(labels == label)
        position[where] = np.arange(len(where))
    train, held = position % 2 == 0, position % 2 == 1
    torch.manual_seed(0)
    corrupted = {
        name: _resize(corruption(native[held]).clamp(0, 1), size)
        for name, corruption in CORRUPTIONS.items()
    }
    return (
        LabelledImages(_resize(native[train], size), labels[train]),
        LabelledImages(_resize(native[held], size), labels[held]),
        corrupted,
    )


@functools.cache
def medmnist_split(npz: Path, split: str, size: int) -> LabelledImages:
    """One split of a MedMNIST ``.npz`` as 3-channel images at the backbone's size."""
    with np.load(npz) as arrays:
        images = torch.from_numpy(arrays[f"{split}_images"]).float() / 255.0
        labels = arrays[f"{split}_labels"].reshape(-1).astype(int)
    images = images[:, None].expand(-1, 3, -1, -1) if images.ndim == 3 else images
    return LabelledImages(_resize(images, size), labels)


@torch.no_grad()
def extract_features(vit: nn.Module, images: torch.Tensor, batch_size: int = 128) -> np.ndarray:
    """Mean final patch token of each image.

    Args:
        vit: timm ViT.
        images: ``(N, 3, S, S)`` 0-1 RGB.
        batch_size: Images per forward pass.

    Returns:
        ``(N, embed_dim)`` float32 features.
    """
    vit.eval()
    device = next(vit.parameters()).device
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = normalise(images[start : start + batch_size]).to(device)
        tokens = vit.forward_features(batch)[:, vit.num_prefix_tokens :]
        chunks.append(tokens.float().mean(1).cpu())
    return torch.cat(chunks).numpy()


def _probe(seed: int) -> object:
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))


def _probe_scores(
    vit: nn.Module, train: LabelledImages, test: LabelledImages, seed: int
) -> dict[str, float]:
    probe = _probe(seed).fit(extract_features(vit, train.images), train.labels)
    scores = probe.predict_proba(extract_features(vit, test.images))
    return {
        "accuracy": float(accuracy_score(test.labels, scores.argmax(1))),
        "auc": float(roc_auc_score(test.labels, scores[:, 1])),
    }


def _rsscn7_metrics(vit: nn.Module, data: Path, size: int, seed: int) -> dict[str, float]:
    train, held, corrupted = rsscn7_halves(data, size)
    train_x, held_x = extract_features(vit, train.images), extract_features(vit, held.images)
    probe = _probe(seed).fit(train_x, train.labels)
    knn = KNeighborsClassifier(n_neighbors=20, metric="cosine", weights="distance")
    knn.fit(train_x, train.labels)
    metrics = {
        "rsscn7_linear_acc": float(accuracy_score(held.labels, probe.predict(held_x))),
        "rsscn7_knn_acc": float(accuracy_score(held.labels, knn.predict(held_x))),
    }
    corrupted_acc = []
    for name, images in corrupted.items():
        accuracy = float(accuracy_score(held.labels, probe.predict(extract_features(vit, images))))
        metrics[f"rsscn7_corrupt_{name}_acc"] = accuracy
        corrupted_acc.append(accuracy)
    metrics["rsscn7_corrupt_mean_acc"] = float(np.mean(corrupted_acc))
    metrics["rsscn7_robustness_drop"] = metrics["rsscn7_linear_acc"] - float(np.mean(corrupted_acc))
    return metrics


def frozen_metrics(
    rs_vit: nn.Module, med_vit: nn.Module, data: Path, size: int, seed: int
) -> dict[str, float]:
    """Every frozen-feature metric of one (method, seed).

    Args:
        rs_vit: Backbone pretrained on the remote-sensing corpus.
        med_vit: Backbone pretrained on the medical corpus.
        data: Data root.
        size: Backbone input side in pixels.
        seed: Seed (probe solvers are deterministic; kept for symmetry).

    Returns:
        Flat ``{metric: value}``.
    """
    metrics = _rsscn7_metrics(rs_vit, data, size, seed)
    medmnist = data / "med" / "medmnist"
    pneumonia = _probe_scores(
        med_vit,
        medmnist_split(medmnist / "pneumoniamnist.npz", "val", size),
        medmnist_split(medmnist / "pneumoniamnist.npz", "test", size),
        seed,
    )
    breast = _probe_scores(
        med_vit,
        medmnist_split(medmnist / "breastmnist.npz", "train", size),
        medmnist_split(medmnist / "breastmnist.npz", "test", size),
        seed,
    )
    metrics.update({f"pneumonia_probe_{k}": v for k, v in pneumonia.items()})
    metrics.update({f"breast_probe_{k}": v for k, v in breast.items()})
    return metrics
