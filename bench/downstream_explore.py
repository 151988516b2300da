r"""Explorations for the downstream study, scored on validation data only (never the tests).

Settings of a budget are chosen here before the study runs, on numbers that never touch
the images the study evaluates on:

* RSSCN7: the probe-training half of the held-out split (even positions), scored by
  2-fold cross-validation inside it (linear probe and k-NN accuracy); the evaluation half
  (odd positions) is never read;
* PneumoniaMNIST: the official val split (the study's probe-training set), 2-fold
  cross-validated probe AUC; the test split is never read;
* the held-out image-reliance gap of ViTP runs.

Each run appends one JSON line to ``--log`` (default ``runs/downstream/explore.jsonl``).

Usage::

    python bench/downstream_explore.py --data ../shared/data --budget miniature \
        --methods start,vitp_vrl --domains rs --set steps=600 --set vitp_vit_lr_scale=0.25
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from downstream import REPO, Study
from downstream_config import BUDGETS, METHODS, Budget
from downstream_frozen import extract_features, medmnist_split, rsscn7_halves
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vitp_core.export import load_backbone

log = logging.getLogger("explore")


def _cv(features: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    probe_acc, knn_acc, auc = [], [], []
    for fit, score in StratifiedKFold(2, shuffle=True, random_state=0).split(features, labels):
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))
        probe.fit(features[fit], labels[fit])
        probe_acc.append(probe.score(features[score], labels[score]))
        if len(np.unique(labels)) == 2:
            auc.append(roc_auc_score(labels[score], probe.predict_proba(features[score])[:, 1]))
        knn = KNeighborsClassifier(n_neighbors=20, metric="cosine", weights="distance")
        knn.fit(features[fit], labels[fit])
        knn_acc.append(knn.score(features[score], labels[score]))
    out = {"probe_acc": float(np.mean(probe_acc)), "knn_acc": float(np.mean(knn_acc))}
    if auc:
        out["auc"] = float(np.mean(auc))
    return out


def validation_metrics(vit: torch.nn.Module, data: Path, size: int, domain: str) -> dict:
    """Cross-validated scores on the probe-training data only (see the module docs)."""
    if domain == "rs":
        train, _, _ = rsscn7_halves(data, size)  # the evaluation half is not used
        scores = _cv(extract_features(vit, train.images), train.labels)
        return {f"rsscn7_val_{k}": v for k, v in scores.items()}
    val = medmnist_split(data / "med" / "medmnist" / "pneumoniamnist.npz", "val", size)
    scores = _cv(extract_features(vit, val.images), val.labels)
    return {f"pneumonia_val_{k}": v for k, v in scores.items()}


def _budget(args: argparse.Namespace) -> Budget:
    budget = BUDGETS[args.budget]
    changes: dict[str, Any] = {}
    for item in args.set or []:
        key, _, value = item.partition("=")
        changes[key] = json.loads(value)
    for key in ("backbone_kwargs", "lm_config"):
        if key in changes:
            changes[key] = {**getattr(budget, key), **changes[key]}
    return dataclasses.replace(budget, **changes)


def main(argv: list[str] | None = None) -> int:
    """Pretrain the chosen methods and print their validation scores."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--budget", default="miniature", choices=sorted(BUDGETS))
    parser.add_argument("--methods", required=True, help="comma-separated method names")
    parser.add_argument("--domains", default="rs,med")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", help="budget override key=JSON value")
    parser.add_argument("--work-dir", type=Path, default=REPO / "runs" / "downstream")
    parser.add_argument("--log", type=Path, default=REPO / "runs" / "downstream" / "explore.jsonl")
    parser.add_argument("--tag", default="", help="a label for this exploration")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    budget = _budget(args)
    study = Study(budget, args.data.resolve(), args.work_dir / "explore", fresh=False)
    study.prepare()
    for name in args.methods.split(","):
        method = METHODS[name]
        for domain in args.domains.split(","):
            path = study.backbone_path(method, args.seed, domain)
            begin = time.perf_counter()
            if not path.with_suffix(".log.json").is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                from downstream_pretrain import pretrain_backbone

                pretrain_backbone(
                    budget,
                    method,
                    study.mixtures[domain],
                    study.images[domain],
                    args.seed,
                    path,
                    study.tokenizers[domain],
                    study.stages,
                )
            pretrain_log = json.loads(path.with_suffix(".log.json").read_text())
            scores = validation_metrics(load_backbone(path), args.data, budget.img_size, domain)
            reliance = pretrain_log.get("image_reliance") or {}
            row = {
                "tag": args.tag,
                "method": name,
                "domain": domain,
                "seed": args.seed,
                "overrides": args.set or [],
                "stages_key": study.stages_key,
                "steps": pretrain_log["steps"],
                "pretrain_wall_s": pretrain_log["wall_s"],
                "reliance_gap": reliance.get("gap"),
                "reliance_own": reliance.get("own"),
                **scores,
                "wall_s": round(time.perf_counter() - begin, 1),
            }
            args.log.parent.mkdir(parents=True, exist_ok=True)
            with args.log.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
