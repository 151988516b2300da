"""Budgets and pretraining methods of the downstream evidence study (``bench/downstream.py``).

A :class:`Budget` fixes everything that costs time: the backbone shape shared by every
method, the pretraining steps x batch (the same for every method), the seeds and the size
of each downstream fine-tune. A :class:`Method` says how a backbone is pretrained.

Two recipes:

* ``scratch`` (budgets ``smoke``, ``small``, ``gpu``): every method starts from a random
  ViT; ViTP's language model starts from scratch too.
* ``staged`` (budget ``miniature``): the paper's recipe in miniature. One shared general
  start for both domains (MAE on all pretraining images of both domains, standing in for
  the general InternViT), a language model aligned on it (ViT frozen, both domains'
  instructions, standing in for InternVL2.5's LM), then, from that same start and at equal
  optimizer steps x batch per domain: ViTP with VRL, without VRL, with the official VRL
  rate; continued MAE; the start alone; and a supervised ceiling on the labels the
  instruction corpus was built from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["BUDGETS", "METHODS", "Budget", "Method"]


@dataclass(frozen=True)
class Budget:
    """Compute budget of one study run.

    Attributes:
        name: ``smoke``, ``small`` or ``gpu``.
        backbone: timm name of the ViT (every method uses the same shape).
        backbone_kwargs: Extra ``timm.create_model`` arguments (depth, patch size).
        img_size: Pretraining and frozen-feature input side in pixels.
        lm_config: Qwen2 overrides of the ViTP language model.
        tokenizer: ViTP's tokenizer: ``"corpus"`` (a byte-level BPE trained on each
            domain's pretraining text, ``tokenizer_vocab`` tokens) or ``"bytes"``.
        tokenizer_vocab: Vocabulary size of the corpus tokenizer.
        mae_decoder: MAE decoder width, depth and heads.
        steps: Pretraining optimizer steps (every method).
        batch_size: Pretraining samples per step (every method).
        lr: Peak pretraining learning rate (AdamW, warmup + cosine, every method).
        vitp_vit_lr_scale: ViTP's ViT learning rate relative to ``lr`` (its language
            model starts from scratch and must learn to read the image first).
        seeds: Seeds; a seed sets pretraining init and data order and downstream init.
        finetune_steps: RSSCN7 fine-tune optimizer steps.
        finetune_batch: RSSCN7 fine-tune batch size.
        seg_tile: Dubai window side in pixels.
        seg_steps: Dubai segmentation fine-tune optimizer steps.
        seg_batch: Dubai batch size.
        seg_test_batches: Dubai test batches (tile 8 windows, fixed order; ``None``: all).
        vol_size: Hippocampus volumes padded/cropped to this size (voxels).
        vol_train: Held-out hippocampus volumes used to fine-tune (the rest are tested).
        vol_test: Held-out hippocampus volumes tested.
        vol_steps: Hippocampus fine-tune optimizer steps.
        vol_batch: Hippocampus batch size.
        max_seq_len: Longest ViTP sequence in tokens.
        accelerator: Lightning accelerator.
        recipe: ``scratch`` or ``staged`` (see the module docs).
        methods: The methods this budget runs (keys of :data:`METHODS`).
        start_steps: Staged: optimizer steps of the shared MAE start.
        start_batch: Staged: batch size of the shared MAE start.
        start_lr: Staged: peak learning rate of the shared MAE start.
        align_steps: Staged: optimizer steps of the alignment (ViT frozen).
        align_lr: Staged: peak learning rate of the alignment (projector and LM).
        align_batch: Staged: batch size of the alignment.
        reliance_every: Measure ViTP's image reliance every this many steps (held-out
            records, the product's :class:`ImageRelianceMonitor`).
    """

    name: str
    backbone: str = "vitp_tiny_patch16_224"
    backbone_kwargs: dict[str, Any] = field(default_factory=lambda: {"depth": 4, "patch_size": 8})
    img_size: int = 64
    lm_config: dict[str, Any] = field(
        default_factory=lambda: {
            "hidden_size": 128,
            "intermediate_size": 352,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
        }
    )
    tokenizer: Literal["corpus", "bytes"] = "corpus"
    tokenizer_vocab: int = 2048
    mae_decoder: tuple[int, int, int] = (128, 2, 4)
    steps: int = 50
    batch_size: int = 8
    lr: float = 5e-4
    vitp_vit_lr_scale: float = 1.0
    seeds: tuple[int, ...] = (0, 1, 2)
    finetune_steps: int = 20
    finetune_batch: int = 32
    seg_tile: int = 64
    seg_steps: int = 20
    seg_batch: int = 8
    seg_test_batches: int | None = 8
    vol_size: tuple[int, int, int] = (32, 48, 32)
    vol_train: int = 20
    vol_test: int = 20
    vol_steps: int = 20
    vol_batch: int = 2
    max_seq_len: int = 1024
    accelerator: str = "cpu"
    recipe: Literal["scratch", "staged"] = "scratch"
    methods: tuple[str, ...] = (
        "random",
        "mae",
        "vitp_novrl",
        "vitp_vrl",
        "vitp_official",
        "vitp_early",
    )
    start_steps: int = 0
    start_batch: int = 32
    start_lr: float = 1e-3
    align_steps: int = 0
    align_lr: float = 2e-3
    align_batch: int = 16
    reliance_every: int = 100

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        return asdict(self)


#: The methods of the staged recipe's study.
STAGED_METHODS = (
    "start",
    "mae_continued",
    "mae_total",
    "vitp_vrl",
    "vitp_novrl",
    "vitp_official",
    "supervised",
)

BUDGETS: dict[str, Budget] = {
    "smoke": Budget(
        name="smoke",
        backbone_kwargs={"depth": 2, "patch_size": 8},
        steps=4,
        batch_size=4,
        seeds=(0,),
        finetune_steps=2,
        seg_steps=2,
        seg_test_batches=2,
        vol_train=4,
        vol_test=4,
        vol_steps=2,
    ),
    "small": Budget(name="small", steps=300, finetune_steps=100, seg_steps=100, vol_steps=150),
    "miniature": Budget(
        name="miniature",
        recipe="staged",
        methods=STAGED_METHODS,
        start_steps=2000,
        start_batch=32,
        start_lr=1e-3,
        align_steps=600,
        align_batch=16,
        align_lr=2e-3,
        steps=800,
        batch_size=16,
        lr=1e-3,
        vitp_vit_lr_scale=0.25,
        finetune_steps=100,
        seg_steps=100,
        vol_train=40,
        vol_test=40,
        vol_steps=300,
        reliance_every=200,
    ),
    "miniature_smoke": Budget(
        name="miniature_smoke",
        recipe="staged",
        methods=STAGED_METHODS,
        backbone_kwargs={"depth": 2, "patch_size": 8},
        start_steps=4,
        align_steps=4,
        steps=4,
        batch_size=4,
        seeds=(0,),
        finetune_steps=2,
        seg_steps=2,
        seg_test_batches=2,
        vol_train=4,
        vol_test=4,
        vol_steps=2,
        reliance_every=2,
    ),
    "gpu": Budget(
        name="gpu",
        backbone="vitp_small_patch16_224",
        backbone_kwargs={"depth": 12, "patch_size": 16},
        img_size=224,
        lm_config={
            "hidden_size": 512,
            "intermediate_size": 1408,
            "num_hidden_layers": 6,
            "num_attention_heads": 8,
            "num_key_value_heads": 2,
        },
        mae_decoder=(256, 4, 8),
        steps=5000,
        batch_size=64,
        lr=3e-4,
        seeds=(0, 1, 2),
        finetune_steps=300,
        seg_tile=256,
        seg_steps=500,
        seg_batch=16,
        seg_test_batches=None,
        vol_size=(48, 64, 48),
        vol_train=94,
        vol_test=40,
        vol_steps=500,
        vol_batch=4,
        accelerator="auto",
    ),
}


@dataclass(frozen=True)
class Method:
    """How a backbone is pretrained.

    Attributes:
        name: Short id used in file names and tables.
        label: Name in the report.
        kind: ``random`` (no pretraining), ``mae``, ``vitp``, ``start`` (the staged
            recipe's general start alone) or ``supervised`` (heads on the corpus labels).
        vrl_ratio: Share of visual tokens dropped (ViTP).
        vrl_apply_prob: Share of samples that are dropped at all (ViTP).
        vrl_mode: ``late``, ``early`` or ``padded`` (ViTP).
        total_steps: Staged MAE: also train for the alignment's steps (equal total steps
            instead of equal ViT-training steps).
    """

    name: str
    label: str
    kind: Literal["random", "mae", "vitp", "start", "supervised"]
    vrl_ratio: float = 0.0
    vrl_apply_prob: float = 1.0
    vrl_mode: Literal["late", "early", "padded"] = "late"
    total_steps: bool = False


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("random", "random init", "random"),
        Method("mae", "MAE (lightly)", "mae"),
        Method("vitp_novrl", "ViTP, no VRL", "vitp", 0.0),
        Method("vitp_vrl", "ViTP, VRL 0.75 every sample", "vitp", 0.75, 1.0, "late"),
        Method("vitp_official", "ViTP, VRL 0.75 on 25% (official)", "vitp", 0.75, 0.25, "late"),
        Method("vitp_early", "ViTP, early VRL 0.75", "vitp", 0.75, 1.0, "early"),
        Method("start", "start alone (MAE, both domains)", "start"),
        Method("mae_continued", "continued MAE", "mae"),
        Method("mae_total", "continued MAE, equal total steps", "mae", total_steps=True),
        Method("supervised", "supervised ceiling (corpus labels)", "supervised"),
    )
}
