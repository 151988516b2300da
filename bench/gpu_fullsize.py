"""Full-size ViTP shapes on a GPU: InternViT-300M + Qwen2-0.5B VLM, bf16 training steps.

Builds the InternVL2.5-1B-shaped VLM of the paper with random weights (no download):
InternViT-300M/14 at 448 px -> pixel shuffle -> mlp1 projector 4096 -> 896 -> Qwen2.5-0.5B
(24 layers, width 896, 14 heads, 2 KV heads, vocabulary 151,674), built by vitp's own code
(``vitp_core.checkpoints.internvl.build_internvl_language_model`` from InternVL2.5-1B's
``llm_config`` fields and ``vitp_core.vlm.ViTPModel``). It then times AdamW training steps
under bf16 autocast (fp32 master weights, as Lightning's ``bf16-mixed``) with VRL off, late
(the paper: 75% of the visual tokens leave the LM sequence), early (whole 2x2 patch groups
never enter the ViT), packed (late VRL, then the batch's samples packed into LM rows with
attention confined to each sample: ``ViTPModel.set_packing``) and padded_b1 (the official
release's style: VRL tokens padded back, one sample per optimizer step). The samples mix
lengths as an RS mixture does: dynamic tiling gives 7, 1, 1 and 3 tiles of 448 px (256
visual tokens each; most RS scenes are one tile), and answers are short class names,
VQA answers and long captions.

Usage::

    python bench/gpu_fullsize.py                # on a GPU: measure, write bench/results/
    python bench/gpu_fullsize.py --tiny         # anywhere: down-scaled model on CPU, no file

Without a GPU (and without ``--tiny``, also spelt ``--dry-run``) it says so and exits with
status 0. It prints samples/s, LM padding share and peak memory per mode.
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
#: The modes timed, in order.
MODES = ("off", "late", "early", "packed", "padded_b1")


@dataclass(frozen=True)
class Shape:
    """Model and batch shape of one benchmark scale.

    ``tiles`` and ``answer_tokens`` are cycled over the samples of a batch (sample ``i``
    has ``tiles[i % len(tiles)]`` tiles), so that samples differ in length.
    """

    vit_kwargs: dict[str, Any]
    llm: dict[str, Any]
    img_size: int
    tiles: tuple[int, ...]
    batch_size: int
    text_tokens: int
    answer_tokens: tuple[int, ...]
    image_token_id: int = IMG_CONTEXT_ID
    pad_token_id: int = PAD_ID


def full_shape(args: argparse.Namespace) -> Shape:
    """The paper's shapes: InternViT-300M (timm defaults of the vitp name) + Qwen2-0.5B."""
    tiles = (args.tiles, 1, 1, max(1, args.tiles // 2))
    return Shape({}, QWEN2_0_5B, 448, tiles, args.batch_size, 64, (8, 32, 200, 16))


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
    return Shape(
        vit, llm, 56, (3, 1, 1, 2), 4, 16, (4, 8, 48, 6), image_token_id=511, pad_token_id=509
    )


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
    """Samples of ``text | <img> visual tokens </img> | text | answer`` with random ids.

    Samples differ in tiles and answer length (see :class:`Shape`); rows are right-padded.
    """
    per_tile = model.tokens_per_tile(shape.img_size, shape.img_size)
    vocab = min(shape.pad_token_id, shape.image_token_id)  # ordinary tokens only
    half = shape.text_tokens // 2
    ids, labels, tiles = [], [], []
    for i in range(shape.batch_size):
        count = shape.tiles[i % len(shape.tiles)]
        answer = shape.answer_tokens[i % len(shape.answer_tokens)]
        text = torch.randint(0, vocab, (shape.text_tokens + answer,), generator=generator)
        visual = torch.full((per_tile * count,), shape.image_token_id)
        row = torch.cat([text[:half], visual, text[half:]])
        label = torch.full_like(row, -100)
        label[-answer:] = row[-answer:]
        ids.append(row)
        labels.append(label)
        tiles.append(count)
    length = max(len(row) for row in ids)
    input_ids = torch.full((len(ids), length), shape.pad_token_id)
    label_rows = torch.full((len(ids), length), -100)
    attention = torch.zeros((len(ids), length), dtype=torch.long)
    for i, (row, label) in enumerate(zip(ids, labels, strict=True)):
        input_ids[i, : len(row)], label_rows[i, : len(row)], attention[i, : len(row)] = (
            row,
            label,
            1,
        )
    return VisualBatch(
        input_ids=input_ids,
        labels=label_rows,
        attention_mask=attention,
        pixel_values=torch.randn(
            sum(tiles), 3, shape.img_size, shape.img_size, generator=generator
        ),
        tile_sample=torch.arange(len(tiles)).repeat_interleave(torch.tensor(tiles)),
    )


def single_samples(batch: VisualBatch) -> list[VisualBatch]:
    """The batch as batches of one sample each, without padding (the official batch 1)."""
    out = []
    for i in range(batch.input_ids.shape[0]):
        n = int(batch.attention_mask[i].sum())
        tiles = batch.tile_sample == i
        out.append(
            VisualBatch(
                input_ids=batch.input_ids[i : i + 1, :n],
                labels=batch.labels[i : i + 1, :n],
                attention_mask=batch.attention_mask[i : i + 1, :n],
                pixel_values=batch.pixel_values[tiles],
                tile_sample=torch.zeros(int(tiles.sum()), dtype=torch.long),
            )
        )
    return out


@dataclass
class ModeResult:
    """Timing and memory of one VRL mode."""

    mode: str
    step_s_mean: float
    step_s_min: float
    peak_mem_gib: float
    lm_seq_len: int
    lm_visual_tokens: int
    lm_padding: float
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
    packed: bool = False,
    one_by_one: bool = False,
) -> ModeResult:
    """Time ``steps`` passes over the batch (after ``warmup``) under bf16 autocast.

    A pass is one AdamW step on the batch, or with ``one_by_one`` one step per sample.
    """
    model.vrl = vrl
    model.set_packing(packed)
    model.generator = torch.Generator(device=device).manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, fused=device.type == "cuda")
    batches = single_samples(batch) if one_by_one else [batch]
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    times, out, real, slots = [], None, 0, 0
    for step in range(warmup + steps):
        _sync(device)
        start = time.perf_counter()
        for part in batches:
            with torch.autocast(device.type, dtype=torch.bfloat16):
                out = model(part)
            out.loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            real, slots = real + out.real_tokens, slots + out.padded_slots
        _sync(device)
        if step >= warmup:
            times.append(time.perf_counter() - start)
    peak = (
        torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    )
    del optimizer
    model.set_packing(False)
    assert out is not None
    return ModeResult(
        mode=name,
        step_s_mean=statistics.fmean(times),
        step_s_min=min(times),
        peak_mem_gib=peak,
        lm_seq_len=out.seq_len,
        lm_visual_tokens=out.visual_tokens,
        lm_padding=1 - real / max(slots, 1),
        loss=float(out.loss.detach()),
    )


def _table(results: list[ModeResult], shape: Shape) -> str:
    samples = shape.batch_size
    lines = [
        "| mode | step s (mean) | step s (min) | samples/s | peak mem GiB | LM seq | LM padding |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rate = samples / r.step_s_mean
        lines.append(
            f"| {r.mode} | {r.step_s_mean:.3f} | {r.step_s_min:.3f} | {rate:.2f} "
            f"| {r.peak_mem_gib:.1f} | {r.lm_seq_len} | {r.lm_padding:.1%} |"
        )
    return "\n".join(lines)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tiny", "--dry-run", dest="dry_run", action="store_true", help="Down-scaled model on CPU."
    )
    parser.add_argument("--steps", type=int, default=5, help="Timed steps per VRL mode.")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed steps per VRL mode.")
    parser.add_argument("--batch-size", type=int, default=8, help="Samples per step.")
    parser.add_argument("--tiles", type=int, default=7, help="Most 448 px tiles per sample.")
    parser.add_argument("--vrl-ratio", type=float, default=0.75, help="VRL drop ratio.")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=MODES,
        default=list(MODES),
        help="off, late, early: VRL on the padded batch; packed: late VRL, packed rows; "
        "padded_b1: padded VRL, one sample per step (official style).",
    )
    parser.add_argument("--grad-checkpointing", action="store_true", help="Recompute in backward.")
    parser.add_argument("--out", type=Path, default=None, help="Results JSON (default: results/).")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status."""
    args = _parse(argv)
    if args.dry_run:
        args.steps, args.warmup = min(args.steps, 2), min(args.warmup, 1)
    elif not torch.cuda.is_available():
        print("gpu_fullsize: no CUDA GPU on this machine; nothing measured (try --tiny).")
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
        f"{shape.batch_size} samples of {shape.tiles} tiles of {shape.img_size} px"
    )
    modes = {
        "off": VRLConfig(ratio=0.0),
        "late": VRLConfig(args.vrl_ratio, 1.0, "late"),
        "early": VRLConfig(args.vrl_ratio, 1.0, "early"),
        "packed": VRLConfig(args.vrl_ratio, 1.0, "late"),
        "padded_b1": VRLConfig(args.vrl_ratio, 1.0, "padded"),
    }
    results = [
        run_mode(
            model,
            batch,
            modes[m],
            m,
            args.steps,
            args.warmup,
            device,
            packed=m == "packed",
            one_by_one=m == "padded_b1",
        )
        for m in args.modes
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
