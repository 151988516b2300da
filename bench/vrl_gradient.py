r"""How much of ViTP's learning signal reaches the ViT under VRL: gradient norm and direction.

From one aligned VLM (a vitp run or checkpoint), the same batches are scored with VRL off and
with late VRL (each sample drops ``--ratio`` of its visual tokens, ``--draws`` independent
drops per batch). For the ViT's parameters it reports the gradient norm with and without VRL,
and the cosine similarity between a VRL gradient and the full-token gradient of the same
batch (1: VRL only rescales the signal; near 0: it points elsewhere). Dropped tokens send no
gradient; the question is how much of the kept tokens' gradient still carries the image.

Usage::

    python bench/vrl_gradient.py --init-from runs/downstream/.../align --corpus rs_mix.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from vitp_core.atomic_io import atomic_write_json
from vitp_core.data.collate import collate_samples
from vitp_core.data.datamodule import InstructionDataModule
from vitp_core.training.module import ViTPPretrainModule
from vitp_core.vlm.vrl import VRLConfig


def _vit_gradient(module: ViTPPretrainModule, batch: object, vrl: VRLConfig) -> torch.Tensor:
    module.model.vrl = vrl
    module.zero_grad()
    module.model(batch).loss.backward()
    return torch.cat([p.grad.flatten() for p in module.model.vit.parameters()])


def main(argv: list[str] | None = None) -> int:
    """Print and write the gradient comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--init-from", required=True, help="an aligned vitp run or .ckpt")
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--ratio", type=float, default=0.75)
    parser.add_argument("--draws", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("bench/results/vrl_gradient.json"))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    module = ViTPPretrainModule(init_from=args.init_from, vrl_ratio=0.0)
    module.model.train()
    data = InstructionDataModule(corpus=args.corpus, processor=module.processor, seed=0)
    data.setup()
    records = data.train_records[: args.batches * args.batch_size]
    rows = []
    for start in range(0, len(records), args.batch_size):
        samples = [module.processor(r) for r in records[start : start + args.batch_size]]
        batch = collate_samples(samples, module.tokenizer.pad_token_id).batch
        full = _vit_gradient(module, batch, VRLConfig(ratio=0.0))
        for _ in range(args.draws):
            dropped = _vit_gradient(module, batch, VRLConfig(ratio=args.ratio))
            cosine = torch.nn.functional.cosine_similarity(full, dropped, dim=0)
            rows.append(
                {
                    "full_norm": float(full.norm()),
                    "vrl_norm": float(dropped.norm()),
                    "cosine": float(cosine),
                }
            )
    summary = {
        key: sum(r[key] for r in rows) / len(rows) for key in ("full_norm", "vrl_norm", "cosine")
    }
    result = {
        "init_from": args.init_from,
        "corpus": args.corpus,
        "ratio": args.ratio,
        "batches": args.batches,
        "batch_size": args.batch_size,
        "draws": args.draws,
        "mean": summary,
        "rows": rows,
    }
    print(json.dumps(summary, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
