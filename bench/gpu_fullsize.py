"""Full-size ViTP shapes on a GPU: InternViT-300M + Qwen2-0.5B VLM, bf16 training steps.

Builds the InternVL2.5-1B-shaped VLM of the paper with random weights (no download):
InternViT-300M/14 at 448 px -> pixel shuffle -> mlp1 projector 4096 -> 896 -> Qwen2.5-0.5B
(24 layers, width 896, 14 heads, 2 KV heads, vocabulary 151,674), built by vitp's own code
(``vitp_core.checkpoints.internvl.build_internvl_language_model`` from InternVL2.5-1B's
``llm_config`` fields and ``vitp_core.vlm.ViTPModel``). It then times AdamW training steps
under bf16 autocast (fp32 master weights, as Lightning's ``bf16-mixed``) with VRL off, late
(the paper: 75% of the visual tokens leave the LM sequence) and early (whole 2x2 patch groups
never enter the ViT), on samples of 7 tiles (6 + thumbnail) of 448 px = 1,792 visual tokens.

Usage::

    python bench/gpu_fullsize.py                # on a GPU: measure, write bench/results/
    python bench/gpu_fullsize.py --dry-run      # anywhere: down-scaled model on CPU, no file

Without a GPU (and without ``--dry-run``) it says so and exits with status 0.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from vitp_core.backbone import create_backbone
from vitp_core.checkpoints.internvl import build_internvl_language_model
from vitp_core.vlm import VisualBatch, ViTPModel, VRLConfig

RESULTS_DIR = Path(__file__).resolve().parent / "results"

#: InternVL2.5-1B's ``llm_config`` (Qwen2.5-0.5B-Instruct) architecture fields.
QWEN2_0_5B: dict[str, Any] = {
    "model_type": "qwen2",
    "architectures": ["Qwen2ForCausalLM"],
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "hidden_act": "silu",
    "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-6,
    "rope_theta": 1_000_000.0,
    "tie_word_embeddings": False,
    "vocab_size": 151674,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
}
#: InternVL2.5's ``<IMG_CONTEXT>`` and ``<|endoftext|>`` (padding) ids.
IMG_CONTEXT_ID = 151667
PAD_ID = 151643


@dataclass(frozen=True)
class Shape:
    """Model and batch shape of one benchmark scale."""

    vit_kwargs: dict[str, Any]
    llm: dict[str, Any]
    img_size: int
    tiles: int
    batch_size: int
    text_tokens: int
    answer_tokens: int
    image_token_id: int = IMG_CONTEXT_ID
    pad_token_id: int = PAD_ID


def full_shape(args: argparse.Namespace) -> Shape:
    """The paper's shapes: InternViT-300M (timm defaults of the vitp name) + Qwen2-0.5B."""
    return Shape({}, QWEN2_0_5B, 448, args.tiles, args.batch_size, 256, 128)


def dry_shape() -> Shape:
    """A down-scaled stand-in that runs the same code path on CPU in seconds."""
    vit = {"embed_dim": 64, "depth": 2, "num_heads": 4}
    llm = QWEN2_0_5B | {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 512,
        "bos_token_id": 509,
        "eos_token_id": 510,
    }
    return Shape(vit, llm, 56, 3, 2, 32, 16, image_token_id=511, pad_token_id=509)


def build_model(shape: Shape, drop_path_rate: float, grad_ckpt: bool) -> ViTPModel:
    """InternViT-300M-shaped ViT + projector + Qwen2 LM, random weights."""
    vit = create_backbone(
        "vitp_intern300m_patch14_448",
        img_size=shape.img_size,
        drop_path_rate=drop_path_rate,
        **shape.vit_kwargs,
    )
    lm = build_internvl_language_model(shape.llm)
    model = ViTPModel(vit, lm, image_token_id=shape.image_token_id, pad_token_id=shape.pad_token_id)
    if grad_ckpt:
        model.vit.set_grad_checkpointing(True)
        model.language_model.gradient_checkpointing_enable()
    return model


def make_batch(model: ViTPModel, shape: Shape, generator: torch.Generator) -> VisualBatch:
    """Samples of ``text | <img> visual tokens </img> | text | answer`` with random ids."""
    visual = model.tokens_per_tile(shape.img_size, shape.img_size) * shape.tiles
    vocab = min(shape.pad_token_id, shape.image_token_id)  # ordinary tokens only
    half = shape.text_tokens // 2
    ids, labels = [], []
    for _ in range(shape.batch_size):
        text = torch.randint(
            0, vocab, (shape.text_tokens + shape.answer_tokens,), generator=generator
        )
        row = torch.cat([text[:half], torch.full((visual,), shape.image_token_id), text[half:]])
        label = torch.full_like(row, -100)
        label[-shape.answer_tokens :] = row[-shape.answer_tokens :]
        ids.append(row)
        labels.append(label)
    input_ids = torch.stack(ids)
    tiles = shape.tiles * shape.batch_size
    return VisualBatch(
        input_ids=input_ids,
        labels=torch.stack(labels),
        attention_mask=torch.ones_like(input_ids),
        pixel_values=torch.randn(tiles, 3, shape.img_size, shape.img_size, generator=generator),
        tile_sample=torch.arange(shape.batch_size).repeat_interleave(shape.tiles),
    )


@dataclass
class ModeResult:
    """Timing and memory of one VRL mode."""

    mode: str
    step_s_mean: float
    step_s_min: float
    peak_mem_gib: float
    lm_seq_len: int
    lm_visual_tokens: int
    loss: float


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_mode(
    model: ViTPModel,
    batch: VisualBatch,
    vrl: VRLConfig,
    name: str,
    steps: int,
    warmup: int,
    device: torch.device,
) -> ModeResult:
    """Time ``steps`` AdamW steps (after ``warmup``) under bf16 autocast."""
    model.vrl = vrl
    model.generator = torch.Generator(device=device).manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, fused=device.type == "cuda")
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    times, out = [], None
    for step in range(warmup + steps):
        _sync(device)
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16):
            out = model(batch)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        _sync(device)
        if step >= warmup:
            times.append(time.perf_counter() - start)
    peak = (
        torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    )
    del optimizer
    assert out is not None
    return ModeResult(
        mode=name,
        step_s_mean=statistics.fmean(times),
        step_s_min=min(times),
        peak_mem_gib=peak,
        lm_seq_len=out.seq_len,
        lm_visual_tokens=out.visual_tokens,
        loss=float(out.loss.detach()),
    )


def _table(results: list[ModeResult], shape: Shape) -> str:
    samples = shape.batch_size
    lines = [
        "| VRL | step s (mean) | step s (min) | samples/s | peak mem GiB | LM seq | LM visual |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rate = samples / r.step_s_mean
        lines.append(
            f"| {r.mode} | {r.step_s_mean:.3f} | {r.step_s_min:.3f} | {rate:.2f} "
            f"| {r.peak_mem_gib:.1f} | {r.lm_seq_len} | {r.lm_visual_tokens} |"
        )
    return "\n".join(lines)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="Down-scaled model on CPU.")
    parser.add_argument("--steps", type=int, default=5, help="Timed steps per VRL mode.")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed steps per VRL mode.")
    parser.add_argument("--batch-size", type=int, default=4, help="Samples per step.")
    parser.add_argument("--tiles", type=int, default=7, help="448 px tiles per sample.")
    parser.add_argument("--vrl-ratio", type=float, default=0.75, help="VRL drop ratio.")
    parser.add_argument("--modes", nargs="+", default=["off", "late", "early"])
    parser.add_argument("--grad-checkpointing", action="store_true", help="Recompute in backward.")
    parser.add_argument("--out", type=Path, default=None, help="Results JSON (default: results/).")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status."""
    args = _parse(argv)
    if args.dry_run:
        args.steps, args.warmup = min(args.steps, 2), min(args.warmup, 1)
    elif not torch.cuda.is_available():
        print("gpu_fullsize: no CUDA GPU on this machine; nothing measured (try --dry-run).")
        return 0
    device = torch.device("cpu" if args.dry_run else "cuda")
    shape = dry_shape() if args.dry_run else full_shape(args)
    torch.manual_seed(0)
    model = build_model(shape, drop_path_rate=0.1, grad_ckpt=args.grad_checkpointing).to(device)
    model.train()
    batch = make_batch(model, shape, torch.Generator().manual_seed(0)).to(device)
    vit_params = sum(p.numel() for p in model.vit.parameters())
    lm_params = sum(p.numel() for p in model.language_model.parameters())
    print(
        f"ViT {vit_params / 1e6:.1f} M params, LM {lm_params / 1e6:.1f} M params, "
        f"{shape.batch_size} samples x {shape.tiles} tiles of {shape.img_size} px"
    )
    modes = {
        "off": VRLConfig(ratio=0.0),
        "late": VRLConfig(args.vrl_ratio, 1.0, "late"),
        "early": VRLConfig(args.vrl_ratio, 1.0, "early"),
    }
    results = [
        run_mode(model, batch, modes[m], m, args.steps, args.warmup, device) for m in args.modes
    ]
    table = _table(results, shape)
    print(table)
    if args.dry_run and args.out is None:
        print("dry run: code path checked on CPU; timings are not GPU figures, nothing written.")
        return 0
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    out = (
        args.out
        or RESULTS_DIR / f"gpu_fullsize_{re.sub(r'[^a-z0-9]+', '_', device_name.lower())}.json"
    )
    payload = {
        "device": device_name,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "shape": asdict(shape) | {"vit_params": vit_params, "lm_params": lm_params},
        "grad_checkpointing": args.grad_checkpointing,
        "vrl_ratio": args.vrl_ratio,
        "steps": args.steps,
        "warmup": args.warmup,
        "results": [asdict(r) for r in results],
        "table_markdown": table,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
