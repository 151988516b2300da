"""Pretraining step time, throughput and peak memory for the VRL variants, in one run.

Variants (same model, same batches): VRL off; late VRL 0.75 physically shortened (vitp);
late VRL 0.75 padded back to the old length (the official release's behaviour); early
VRL 0.75 (patch groups removed before the ViT blocks). Also the time split between the
ViT and the LM, and whether late VRL reaches the speedup its token count allows.

Packing (issue 16) is measured on a second stream of batches whose lengths follow the
shipped remote-sensing mixture (:data:`RS_LENGTH_MIX`: one-tile scene-classification
records with short answers, Dubai scenes cut into up to 13 tiles with long grounding and
coverage answers, LEVIR-CD pairs with change captions): late VRL 0.75 on the padded batch
against the same with the batch's samples packed into one LM row, attention per sample
(``ViTPModel.set_packing``). Reported: LM padding share and samples/s of each, over the
same batches, timed round-robin (each batch's fastest of ``--mix-repeats`` runs), and the
step peak memory of each on one 14-tile mixture batch.

The config makes visual tokens dominate the sequence, as in the paper: one 448 px
tile per sample at patch 14 gives 256 visual tokens after the pixel shuffle
(InternVL2.5's geometry), against tens of text tokens. Variants are timed round-robin so that
machine noise hits them alike; figures are medians. Peak memory is measured per variant
in a fresh subprocess as the peak of a training step above the resting model and
optimizer state (GPU: ``torch.cuda.max_memory_allocated``; CPU on Linux: the kernel's
resident high-water mark, reset before the step through ``/proc/self/clear_refs``, with
glibc told to return every large block to the kernel so that freed memory is not counted).

Usage:
    python bench/pretrain_speed.py [--steps 8] [--mix-steps 6] [--out FILE]

Writes ``bench/results/pretrain_speed.json`` (next to this script) unless ``--out`` says
otherwise.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from proc_memory import proc_bytes

from vitp_core.backbone import create_backbone
from vitp_core.corpus.records import ConversationTurn
from vitp_core.data.collate import collate_samples
from vitp_core.data.processor import ProcessedSample
from vitp_core.vlm.chat import encode_conversation
from vitp_core.vlm.language_model import build_language_model
from vitp_core.vlm.model import VisualBatch, ViTPModel
from vitp_core.vlm.tokenizer import IMG_CONTEXT_TOKEN, build_byte_tokenizer
from vitp_core.vlm.vrl import VRLConfig

VARIANTS = {
    "off": VRLConfig(0.0),
    "late_0.75": VRLConfig(0.75, 1.0, "late"),
    "padded_0.75": VRLConfig(0.75, 1.0, "padded"),
    "early_0.75": VRLConfig(0.75, 1.0, "early"),
}
CONFIG = {
    "vit": "vitp_small_patch16_224",
    "vit_depth": 6,
    "patch_size": 14,
    "img_size": 448,
    "tiles_per_sample": 1,
    "batch_size": 4,
    "lm": {
        "hidden_size": 512,
        "num_hidden_layers": 6,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "intermediate_size": 1408,
    },
}
#: Lengths of the shipped RS mixture (examples/corpora/rs_mix.json, repeat_time applied) as
#: built from the shared data by examples/corpora/build_all.sh and processed by vitp's
#: SampleProcessor (448 px tiles, 12 tiles at most, thumbnail, byte tokenizer):
#: (source, {tiles per record: items}, (fewest, most) text tokens of a record).
RS_LENGTH_MIX = (
    ("rsscn7", {1: 1400}, (96, 256)),
    ("dubai", {1: 36, 5: 72, 7: 36, 10: 72, 13: 72}, (288, 608)),
    ("levir_cd", {2: 88}, (288, 576)),
)
MIX_BATCH_SIZE = 8
MIX_VARIANTS = {"late_0.75": False, "packed_late_0.75": True}  # name: packed
MIX_MEMORY_SEED = 1001  # the mixture batch whose step memory is measured (14 tiles)
QUESTIONS = [
    ("What kind of scene is this?", "A dense residential area."),
    ("Is there water in the image?", "Yes, a river crosses it."),
    ("How many buildings are there?", "About twelve."),
    ("What covers most of the scene?", "Farmland."),
]


def build_model(vrl: VRLConfig, device: torch.device) -> tuple[ViTPModel, object]:
    """The benchmark VLM with random weights."""
    torch.manual_seed(0)
    tokenizer = build_byte_tokenizer()
    vit = create_backbone(
        CONFIG["vit"],
        img_size=CONFIG["img_size"],
        depth=CONFIG["vit_depth"],
        patch_size=CONFIG["patch_size"],
    )
    lm = build_language_model(tokenizer, config=CONFIG["lm"])
    context = tokenizer.convert_tokens_to_ids(IMG_CONTEXT_TOKEN)
    model = ViTPModel(vit, lm, context, tokenizer.pad_token_id, vrl)
    return model.to(device).train(), tokenizer


def _sample(
    tokenizer: object,
    question: str,
    answer: str,
    tokens_per_image: list[int],
    tiles: int,
    generator: torch.Generator,
) -> ProcessedSample:
    """One question about ``len(tokens_per_image)`` images made of ``tiles`` random tiles."""
    size = CONFIG["img_size"]
    turns = [
        ConversationTurn("user", "<image>" * len(tokens_per_image) + "\n" + question),
        ConversationTurn("assistant", answer),
    ]
    enc = encode_conversation(tokenizer, turns, tokens_per_image)
    pixels = torch.randn(tiles, 3, size, size, generator=generator)
    return ProcessedSample(torch.tensor(enc.input_ids), torch.tensor(enc.labels), pixels)


def build_batch(tokenizer: object, model: ViTPModel, seed: int) -> VisualBatch:
    """A batch of single-question samples, several tiles each."""
    generator = torch.Generator().manual_seed(seed)
    size, tiles = CONFIG["img_size"], CONFIG["tiles_per_sample"]
    per_tile = model.tokens_per_tile(size, size)
    samples = [
        _sample(
            tokenizer, *QUESTIONS[(seed + i) % len(QUESTIONS)], [per_tile] * tiles, tiles, generator
        )
        for i in range(CONFIG["batch_size"])
    ]
    return collate_samples(samples, tokenizer.pad_token_id).batch


def _draw_mix_record(rng: random.Random) -> tuple[int, int]:
    """Tiles and text tokens of one record drawn from :data:`RS_LENGTH_MIX`."""
    shapes = [(tiles, span) for _, tiles_items, span in RS_LENGTH_MIX for tiles in tiles_items]
    weights = [n for _, tiles_items, _ in RS_LENGTH_MIX for n in tiles_items.values()]
    tiles, (low, high) = rng.choices(shapes, weights)[0]
    return tiles, rng.randint(low, high)


def build_mix_batch(tokenizer: object, model: ViTPModel, seed: int) -> VisualBatch:
    """A batch whose records have the tile counts and text lengths of the RS mixture."""
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    size = CONFIG["img_size"]
    per_tile = model.tokens_per_tile(size, size)
    question = "Describe what the image shows."
    # the chat template's tokens around one image and an empty answer, the same for any tiles
    bare = encode_conversation(
        tokenizer,
        [ConversationTurn("user", "<image>\n" + question), ConversationTurn("assistant", "")],
        [per_tile],
    )
    template_tokens = len(bare.input_ids) - per_tile
    samples = []
    for _ in range(MIX_BATCH_SIZE):
        tiles, text_tokens = _draw_mix_record(rng)
        answer_chars = max(text_tokens - template_tokens, 1)
        answer = ("the scene shows roads and buildings " * 40)[:answer_chars]
        samples.append(_sample(tokenizer, question, answer, [per_tile * tiles], tiles, generator))
    return collate_samples(samples, tokenizer.pad_token_id).batch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_step(model: ViTPModel, optimizer: torch.optim.Optimizer, batch: VisualBatch) -> dict:
    """One optimizer step; returns the LM sequence accounting."""
    optimizer.zero_grad(set_to_none=True)
    out = model(batch)
    out.loss.backward()
    optimizer.step()
    return {"seq_len": out.seq_len, "real": out.real_tokens, "slots": out.padded_slots}


def time_split(model: ViTPModel, batch: VisualBatch, device: torch.device) -> tuple[float, float]:
    """Forward+backward seconds of the ViT (+projector) alone and of the LM alone, VRL off."""
    lm = model.language_model
    width = lm.get_input_embeddings().embedding_dim
    _sync(device)
    start = time.perf_counter()
    model.encode_tiles(batch.pixel_values).float().pow(2).mean().backward()
    _sync(device)
    vit_s = time.perf_counter() - start
    embeds = torch.randn(*batch.input_ids.shape, width, device=device, requires_grad=True)
    start = time.perf_counter()
    lm(
        inputs_embeds=embeds, attention_mask=batch.attention_mask, labels=batch.labels
    ).loss.backward()
    _sync(device)
    model.zero_grad(set_to_none=True)
    return vit_s, time.perf_counter() - start


def measure_memory(variant: str, device: str) -> float:
    """Peak step memory (MiB) of one variant above model + optimizer, in a fresh process."""
    code = f"from pretrain_speed import _memory_probe; _memory_probe({variant!r}, {device!r})"
    # Large blocks are mmapped and unmapped on free, so resident memory tracks live tensors.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
        env=env,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def _proc_status_mib(field: str) -> float:
    value = proc_bytes("self", field)
    if value is None:
        raise RuntimeError(f"{field} not in /proc/self/status")
    return value / 2**20


def _memory_probe(variant: str, device_name: str) -> None:
    """Print one variant's step peak memory; ``mix:<name>`` is a packing variant on a mix batch."""
    device = torch.device(device_name)
    mix = variant.removeprefix("mix:") if variant.startswith("mix:") else None
    model, tokenizer = build_model(VARIANTS["late_0.75" if mix else variant], device)
    if mix:
        model.set_packing(MIX_VARIANTS[mix])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    if mix:
        batch = build_mix_batch(tokenizer, model, MIX_MEMORY_SEED).to(device)
    else:
        batch = build_batch(tokenizer, model, 0).to(device)
    train_step(model, optimizer, batch)  # creates the optimizer state
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        resting = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        train_step(model, optimizer, batch)
        print((torch.cuda.max_memory_allocated() - resting) / 2**20)
        return
    resting = _proc_status_mib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    train_step(model, optimizer, batch)
    print(_proc_status_mib("VmHWM") - resting)


def run(steps: int, device: torch.device) -> dict:
    """Time every variant round-robin on the same batches."""
    models, optimizers = {}, {}
    for name, vrl in VARIANTS.items():
        models[name], tokenizer = build_model(vrl, device)
        optimizers[name] = torch.optim.AdamW(models[name].parameters(), lr=1e-4)
    batches = [build_batch(tokenizer, models["off"], s).to(device) for s in range(steps + 2)]
    times = {name: [] for name in VARIANTS}
    tokens = {name: [] for name in VARIANTS}
    vit_times, lm_times = [], []
    for index, batch in enumerate(batches):
        for name in VARIANTS:
            _sync(device)
            start = time.perf_counter()
            tokens[name].append(train_step(models[name], optimizers[name], batch))
            _sync(device)
            if index >= 2:  # the first two steps are warm-up
                times[name].append(time.perf_counter() - start)
        if index >= 2:
            vit_s, lm_s = time_split(models["off"], batch, device)
            vit_times.append(vit_s)
            lm_times.append(lm_s)
    split = {"vit_s": min(vit_times), "lm_s": min(lm_times)}
    return {"times": times, "tokens": tokens, "split": split}


def run_mix(steps: int, repeats: int, device: torch.device) -> dict:
    """Late VRL padded vs packed on RS-mixture batches, round-robin, fastest of ``repeats``."""
    models, optimizers = {}, {}
    for name, packed in MIX_VARIANTS.items():
        models[name], tokenizer = build_model(VARIANTS["late_0.75"], device)
        models[name].set_packing(packed)
        optimizers[name] = torch.optim.AdamW(models[name].parameters(), lr=1e-4)
    first = next(iter(models.values()))
    batches = [build_mix_batch(tokenizer, first, 1000 + s).to(device) for s in range(steps + 1)]
    times = {name: [] for name in MIX_VARIANTS}
    tokens = {name: [] for name in MIX_VARIANTS}
    tiles = []
    for index, batch in enumerate(batches):
        best = dict.fromkeys(MIX_VARIANTS, float("inf"))
        counts = {}
        for _ in range(repeats if index else 1):  # batch 0 is warm-up
            for name in MIX_VARIANTS:
                _sync(device)
                start = time.perf_counter()
                counts[name] = train_step(models[name], optimizers[name], batch)
                _sync(device)
                best[name] = min(best[name], time.perf_counter() - start)
        timing = ", ".join(f"{n} {t:.2f} s" for n, t in best.items())
        print(f"mix batch {index}: {batch.pixel_values.shape[0]} tiles, {timing}", flush=True)
        if index:
            tiles.append(int(batch.pixel_values.shape[0]))
            for name in MIX_VARIANTS:
                times[name].append(best[name])
                tokens[name].append(counts[name])
    return {"times": times, "tokens": tokens, "tiles": tiles}


def summarise(raw: dict, memory: dict) -> dict:
    """Medians, speedups, the allowed late speedup and the targets."""
    batch_size = CONFIG["batch_size"]
    # The fastest step of each variant: on a shared machine, interference only ever adds time.
    step = {name: min(t) for name, t in raw["times"].items()}
    median = {name: statistics.median(t) for name, t in raw["times"].items()}
    seq = {name: statistics.median(x["seq_len"] for x in raw["tokens"][name]) for name in step}
    pad = {
        name: 1
        - sum(x["real"] for x in raw["tokens"][name]) / sum(x["slots"] for x in raw["tokens"][name])
        for name in step
    }
    split = raw["split"]
    kept_share = sum(x["real"] for x in raw["tokens"]["late_0.75"]) / sum(
        x["real"] for x in raw["tokens"]["off"]
    )
    allowed_time = split["vit_s"] + split["lm_s"] * kept_share
    # Scale the split to the measured full step so that optimizer/glue time is counted as fixed.
    overhead = step["off"] - split["vit_s"] - split["lm_s"]
    allowed_step = allowed_time + max(overhead, 0.0)
    allowed_speedup = step["off"] / allowed_step
    late_speedup = step["off"] / step["late_0.75"]
    gain_share = (step["off"] - step["late_0.75"]) / max(step["off"] - allowed_step, 1e-9)
    early_speedup = step["off"] / step["early_0.75"]
    padded_speedup = step["off"] / step["padded_0.75"]
    rows = {
        name: {
            "step_s": step[name],
            "step_median_s": median[name],
            "samples_per_s": batch_size / step[name],
            "speedup_vs_off": step["off"] / step[name],
            "lm_seq_len": seq[name],
            "pad_fraction": pad[name],
            "peak_mem_mib": memory.get(name),
        }
        for name in step
    }
    return {
        "variants": rows,
        "time_split_off": {
            "vit_fwd_bwd_s": split["vit_s"],
            "lm_fwd_bwd_s": split["lm_s"],
            "other_s": overhead,
            "vit_share": split["vit_s"] / step["off"],
        },
        "late": {
            "lm_tokens_kept_share": kept_share,
            "allowed_speedup": allowed_speedup,
            "achieved_speedup": late_speedup,
            "share_of_allowed_gain": gain_share,
        },
        "targets": {
            "late_reaches_85pct_of_allowed_gain": gain_share >= 0.85,
            "early_at_least_2x": early_speedup >= 2.0,
            "padded_no_faster_than_off": padded_speedup <= 1.05,
        },
    }


def summarise_mix(raw: dict, memory: dict) -> dict:
    """Padding share and samples/s of padded vs packed late VRL on the RS-mixture batches."""
    samples = MIX_BATCH_SIZE * len(raw["tiles"])
    rows = {}
    for name, times in raw["times"].items():
        counts = raw["tokens"][name]
        real, slots = sum(c["real"] for c in counts), sum(c["slots"] for c in counts)
        rows[name] = {
            "total_s": sum(times),
            "samples_per_s": samples / sum(times),
            "lm_tokens_per_batch": real / len(counts),
            "lm_slots_per_batch": slots / len(counts),
            "pad_fraction": 1 - real / slots,
            "peak_mem_mib": memory.get(name),
        }
    packed, late = rows["packed_late_0.75"], rows["late_0.75"]
    speedup = packed["samples_per_s"] / late["samples_per_s"]
    return {
        "length_mix": [
            {"source": name, "tiles_items": tiles, "text_tokens": list(span)}
            for name, tiles, span in RS_LENGTH_MIX
        ],
        "batch_size": MIX_BATCH_SIZE,
        "batches": len(raw["tiles"]),
        "step_times_s": raw["times"],
        "tiles_per_batch": raw["tiles"],
        "variants": rows,
        "packed_speedup_vs_late": speedup,
        "targets": {
            "packed_padding_under_5pct": packed["pad_fraction"] < 0.05,
            "packed_at_least_1.2x_late": speedup >= 1.2,
        },
    }


def print_table(summary: dict) -> str:
    """Markdown tables of the variants and of packing."""
    lines: list[str] = []
    if "variants" in summary:
        lines += [
            "| variant | step (s) | samples/s | speedup | LM seq len | padding "
            "| step peak mem (MiB) |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, row in summary["variants"].items():
            mem = f"{row['peak_mem_mib']:.0f}" if row["peak_mem_mib"] is not None else "n/a"
            lines.append(
                f"| {name} | {row['step_s']:.3f} | {row['samples_per_s']:.2f} | "
                f"{row['speedup_vs_off']:.2f}x | {row['lm_seq_len']:.0f} | "
                f"{row['pad_fraction']:.1%} | {mem} |"
            )
        split, late = summary["time_split_off"], summary["late"]
        lines += [
            "",
            f"Time split (VRL off, fwd+bwd): ViT {split['vit_fwd_bwd_s']:.3f} s, "
            f"LM {split['lm_fwd_bwd_s']:.3f} s, other {split['other_s']:.3f} s "
            f"(ViT share {split['vit_share']:.0%}).",
            f"Late VRL keeps {late['lm_tokens_kept_share']:.0%} of LM tokens: allowed speedup "
            f"{late['allowed_speedup']:.2f}x, achieved {late['achieved_speedup']:.2f}x "
            f"({late['share_of_allowed_gain']:.0%} of the allowed gain).",
            "Targets: "
            + ", ".join(f"{k}={'PASS' if v else 'MISS'}" for k, v in summary["targets"].items()),
        ]
    mix = summary.get("packing")
    if mix:
        lines += [
            "",
            f"Packing on RS-mixture batches ({mix['batches']} batches of {mix['batch_size']}, "
            f"{sum(mix['tiles_per_batch']) / mix['batches']:.1f} tiles per batch):",
            "",
            "| variant | samples/s | LM tokens/batch | LM slots/batch | padding "
            "| step peak mem (MiB) |",
            "|---|---|---|---|---|---|",
        ]
        for name, row in mix["variants"].items():
            mem = f"{row['peak_mem_mib']:.0f}" if row.get("peak_mem_mib") is not None else "n/a"
            lines.append(
                f"| {name} | {row['samples_per_s']:.2f} | {row['lm_tokens_per_batch']:.0f} | "
                f"{row['lm_slots_per_batch']:.0f} | {row['pad_fraction']:.1%} | {mem} |"
            )
        lines += [
            "",
            f"Packed vs padded late VRL: {mix['packed_speedup_vs_late']:.2f}x samples/s. Targets: "
            + ", ".join(f"{k}={'PASS' if v else 'MISS'}" for k, v in mix["targets"].items()),
        ]
    text = "\n".join(lines)
    print(text)
    return text


def main() -> None:
    """Run the benchmark and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=8, help="Timed steps per variant.")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "pretrain_speed.json",
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="Skip the per-variant memory runs."
    )
    parser.add_argument(
        "--mix-steps", type=int, default=6, help="Timed RS-mixture batches (0 skips packing)."
    )
    parser.add_argument(
        "--mix-repeats", type=int, default=2, help="Runs of each mixture batch (fastest kept)."
    )
    parser.add_argument("--only-mix", action="store_true", help="Run the packing comparison alone.")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    summary: dict = {}
    raw: dict = {"times": {}}
    if not args.only_mix:
        raw = run(args.steps, device)
        memory = {} if args.no_memory else {v: measure_memory(v, device.type) for v in VARIANTS}
        summary = summarise(raw, memory)
    if args.mix_steps:
        mix = run_mix(args.mix_steps, args.mix_repeats, device)
        memory = (
            {}
            if args.no_memory
            else {v: measure_memory(f"mix:{v}", device.type) for v in MIX_VARIANTS}
        )
        summary["packing"] = summarise_mix(mix, memory)
    table = print_table(summary)
    payload = {
        "config": CONFIG,
        "device": str(device),
        "machine": {
            "platform": platform.platform(),
            "threads": torch.get_num_threads(),
            "load_average_at_end": os.getloadavg(),
        },
        "steps": args.steps,
        **summary,
        "table_markdown": table,
        "raw_step_times_s": raw["times"],
    }
    from vitp_core.atomic_io import atomic_write_json

    atomic_write_json(args.out, payload)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
