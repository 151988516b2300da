"""ViTPPretrainModule: the LightningModule that pretrains a ViT inside a VLM."""

from __future__ import annotations

import copy
import logging
from typing import Any, Literal

import lightning as L
import torch

from vitp_core.backbone import create_backbone
from vitp_core.corpus.records import BadRecordError
from vitp_core.data.collate import CollatedBatch
from vitp_core.data.processor import SampleProcessor
from vitp_core.export import BackboneMetadata
from vitp_core.training.run_settings import RUN_DEFINING_MODEL_KEYS, check_resume_settings
from vitp_core.training.safety import (
    NothingTrainedError,
    TrainingHealth,
    drop_gradients,
    gradients_finite,
)
from vitp_core.training.schedule import cosine_with_warmup, optimizer_parameter_groups
from vitp_core.training.skipped_records import (
    gather_skipped_records,
    merge_skipped_records,
    skipped_from_state,
    skipped_key,
    skipped_to_state,
)
from vitp_core.training.starts import (
    ARCHITECTURE_KEYS,
    RunStart,
    find_run_checkpoint,
    load_vit_weights,
    read_run_start,
    timm_pretrained_name,
    vit_export_metadata,
)
from vitp_core.vlm.language_model import build_language_model
from vitp_core.vlm.model import ViTPModel
from vitp_core.vlm.tokenizer import IMG_CONTEXT_TOKEN, load_tokenizer
from vitp_core.vlm.vrl import VRLConfig

__all__ = ["CHECKPOINT_KEY", "ViTPPretrainModule"]

log = logging.getLogger(__name__)

#: Key of vitp's own run state in a checkpoint (skipped records, step counts, settings).
CHECKPOINT_KEY = "vitp"


class ViTPPretrainModule(L.LightningModule):
    """ViTP pretraining: next-token loss on answers, VRL on the visual tokens.

    Args:
        vit: timm name of the backbone (``vitp_*`` or any timm ViT).
        vit_kwargs: Extra ``timm.create_model`` arguments (``depth``, ``embed_dim``...).
        img_size: Tile side in pixels (multiple of 2 x patch size); ``None`` takes the
            backbone's own (224 for ``vitp_*_224``, 448 for InternViT / ``init_from``).
        in_chans: Input bands.
        band_names: Names of the input bands, recorded in the export.
        mean: Per-band normalisation mean (0-1 scaled pixels).
        std: Per-band normalisation standard deviation.
        drop_path_rate: ViT stochastic depth.
        lm: ``None`` for a small Qwen2 built from ``lm_config``; else a Hub id or local folder.
        lm_config: Qwen2 config overrides of the built LM.
        tokenizer: ``"bytes"`` (offline byte-level) or a Hub id / folder; defaults to ``lm``'s.
        trust_remote_code: Allow remote code for ``lm``/``tokenizer`` (off unless you ask).
        init_from: Where the whole VLM starts: a previous vitp run folder (its
            ``checkpoints/last.ckpt``) or ``.ckpt`` file -- a staged recipe, e.g. domain
            ViTP after an alignment run: ViT, projector, LM, tokenizer, image size and
            bands all come from it and the model settings naming them are ignored -- or
            an InternVL2.5 HF folder.
        vit_weights: A ViT-only start: a ``vitp export`` (its sidecar also sets ``vit``,
            ``vit_kwargs``, bands and normalisation), a timm or InternViT state dict, an
            MAE-pretrained tower saved as one, or ``timm:<name>.<tag>`` for timm's own
            pretrained weights (e.g. ``timm:vit_small_patch16_224.mae``; timm downloads
            them from the Hub, or reads ``vit_kwargs.pretrained_cfg_overlay.file``).
            Loaded strictly after the model is built.
        vrl_ratio: Share of a sample's visual tokens dropped.
        vrl_apply_prob: Probability a sample is dropped at all.
        vrl_mode: ``late`` (after the projector, the paper), ``early`` (before the ViT
            blocks) or ``padded`` (the official release's padding back; saves nothing).
        freeze_vit: Do not train the ViT.
        freeze_projector: Do not train the projector.
        freeze_lm: Do not train the LM.
        gradient_checkpointing: Recompute activations in backward (ViT and LM).
        dynamic_tiling: InternVL dynamic-resolution tiles for large images.
        max_tiles: Most tiles per image with dynamic tiling.
        use_thumbnail: Add a thumbnail tile with dynamic tiling.
        max_seq_len: Longest sequence in tokens; longer records are bad records.
        pack_sequences: Lay each batch's samples (after VRL) one after another in LM rows
            without padding, attention computed within each sample; the loss is the
            unpacked batch's (:mod:`vitp_core.vlm.packing`).
        pack_length: Most tokens in a packed row (``None``: one row holds the batch).
        lr: Peak learning rate of AdamW.
        vit_lr_scale: The ViT's peak learning rate relative to ``lr`` (below 1 lets a
            language model trained from scratch learn to read the image before the ViT's
            features move far).
        weight_decay: AdamW weight decay (with the ``vitp`` recipe not on biases, norms,
            LayerScale, position embeddings and CLS).
        optimizer_recipe: ``"vitp"`` (the exemptions above) or ``"official"`` (every
            parameter decayed, as the official release; see docs/parity.md).
        warmup_ratio: Share of steps of linear warmup before the cosine decay.
        min_lr_ratio: Final learning rate relative to ``lr``.
        betas: AdamW betas.
        corpus_name: Name recorded in the export (defaults to the data module's corpus).
        max_nonfinite_steps: A step whose loss or gradient is NaN/Inf is skipped (the
            weights and optimizer state do not move) and counted; this many in a row stop
            the run with an error (0: never stop).

    A resume (``--ckpt_path``) with another value of a run-defining setting (architecture,
    start, VRL, frozen parts, input, corpus and its split: see
    :mod:`vitp_core.training.run_settings`) is refused. Skipped records and step counts
    are kept in checkpoints, so reports stay exact across a crash and resume.
    """

    def __init__(
        self,
        vit: str = "vitp_tiny_patch16_224",
        vit_kwargs: dict[str, Any] | None = None,
        img_size: int | None = None,
        in_chans: int = 3,
        band_names: list[str] | None = None,
        mean: list[float] | None = None,
        std: list[float] | None = None,
        drop_path_rate: float = 0.0,
        lm: str | None = None,
        lm_config: dict[str, Any] | None = None,
        tokenizer: str | None = None,
        trust_remote_code: bool = False,
        init_from: str | None = None,
        vit_weights: str | None = None,
        vrl_ratio: float = 0.75,
        vrl_apply_prob: float = 1.0,
        vrl_mode: Literal["late", "early", "padded"] = "late",
        freeze_vit: bool = False,
        freeze_projector: bool = False,
        freeze_lm: bool = False,
        gradient_checkpointing: bool = False,
        dynamic_tiling: bool = False,
        max_tiles: int = 6,
        use_thumbnail: bool = True,
        max_seq_len: int = 2048,
        pack_sequences: bool = False,
        pack_length: int | None = None,
        lr: float = 2e-4,
        vit_lr_scale: float = 1.0,
        weight_decay: float = 0.05,
        optimizer_recipe: Literal["vitp", "official"] = "vitp",
        warmup_ratio: float = 0.1,
        min_lr_ratio: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        corpus_name: str | None = None,
        max_nonfinite_steps: int = 5,
    ) -> None:
        super().__init__()
        if max_nonfinite_steps < 0:
            raise ValueError(f"model.max_nonfinite_steps must be >= 0, got {max_nonfinite_steps}.")
        self.save_hyperparameters()
        #: The run-defining settings as given (before a start fills them in), for resumes.
        self.run_settings = {
            key: copy.deepcopy(self.hparams.get(key)) for key in RUN_DEFINING_MODEL_KEYS
        }
        vrl = VRLConfig(vrl_ratio, vrl_apply_prob, vrl_mode)
        self.model, self.tokenizer = self._start(vrl)
        self.model.set_packing(pack_sequences, pack_length)
        self.hparams.img_size = int(self.model.vit.patch_embed.img_size[0])
        self.model.freeze(vit=freeze_vit, projector=freeze_projector, lm=freeze_lm)
        if gradient_checkpointing:
            self.model.vit.set_grad_checkpointing(True)
            self.model.language_model.gradient_checkpointing_enable()
        self.processor = SampleProcessor(
            tokenizer=self.tokenizer,
            image_size=self.hparams.img_size,
            patch_size=self.model.patch_size,
            in_chans=in_chans,
            mean=mean,
            std=std,
            dynamic_tiling=dynamic_tiling,
            max_tiles=max_tiles,
            use_thumbnail=use_thumbnail,
            max_seq_len=max_seq_len,
        )
        #: Records skipped while loading, once each (keyed by file:line).
        self.skipped_records: dict[str, BadRecordError] = {}
        #: Optimizer-step counts: trained, skipped as non-finite or empty.
        self.health = TrainingHealth(max_in_a_row=max_nonfinite_steps)
        self._step_has_data = False
        self._step_loss: torch.Tensor | None = None

    def _start(self, vrl: VRLConfig) -> tuple[ViTPModel, Any]:
        """Build the model from ``init_from`` / ``vit_weights`` / the settings."""
        hp = self.hparams
        hp.lineage, hp.architecture_origin = [], None
        run = find_run_checkpoint(hp.init_from) if hp.init_from is not None else None
        if run is not None:
            model, tokenizer = self._from_run(read_run_start(run), vrl)
        elif hp.init_from is not None:
            hp.architecture_origin = hp.init_from
            model, tokenizer = self._from_internvl(hp.init_from, vrl)
        else:
            self._adopt_vit_export()
            model, tokenizer = self._build(vrl)
        if hp.vit_weights is not None and timm_pretrained_name(hp.vit_weights) is None:
            load_vit_weights(model.vit, hp.vit_weights)
            log.info("ViT initialised from %s", hp.vit_weights)
        return model, tokenizer

    def _adopt_vit_export(self) -> None:
        """Take the ViT's architecture, bands and normalisation from a ``vitp export``."""
        hp = self.hparams
        timm_name = timm_pretrained_name(hp.vit_weights)
        if timm_name is not None:  # timm builds it with its pretrained weights
            hp.vit = timm_name
            return
        meta = vit_export_metadata(hp.vit_weights) if hp.vit_weights is not None else None
        if meta is None:
            return
        hp.vit, hp.vit_kwargs, hp.in_chans = meta.model, dict(meta.model_kwargs), meta.in_chans
        hp.img_size = hp.img_size or int(meta.img_size[0])
        hp.band_names = hp.band_names or meta.band_names
        hp.mean, hp.std = hp.mean or meta.mean, hp.std or meta.std

    def _from_run(self, start: RunStart, vrl: VRLConfig) -> tuple[ViTPModel, Any]:
        """Continue from a previous vitp run: its architecture, then all of its weights."""
        hp = self.hparams
        for key in ARCHITECTURE_KEYS:
            hp[key] = start.hparams.get(key)
        if start.tokenizer_dir is not None:
            hp.tokenizer = str(start.tokenizer_dir)
        origin = hp.architecture_origin
        model, tokenizer = self._from_internvl(origin, vrl) if origin else self._build(vrl)
        model.load_state_dict(start.state, strict=True)
        hp.lineage = start.lineage
        log.info(
            "continuing from %s (%d steps): vit %s %s, img_size %s",
            start.checkpoint,
            start.global_step,
            hp.vit,
            hp.vit_kwargs,
            hp.img_size,
        )
        return model, tokenizer

    def _build(self, vrl: VRLConfig) -> tuple[ViTPModel, Any]:
        hp = self.hparams
        tokenizer = load_tokenizer(
            hp.tokenizer or hp.lm or "bytes", trust_remote_code=hp.trust_remote_code
        )
        vit = create_backbone(
            hp.vit,
            in_chans=hp.in_chans,
            img_size=hp.img_size,
            drop_path_rate=hp.drop_path_rate,
            pretrained=timm_pretrained_name(hp.vit_weights) is not None,
            **(hp.vit_kwargs or {}),
        )
        lm = build_language_model(
            tokenizer, hp.lm, hp.lm_config, trust_remote_code=hp.trust_remote_code
        )
        image_token = tokenizer.convert_tokens_to_ids(IMG_CONTEXT_TOKEN)
        return ViTPModel(vit, lm, image_token, tokenizer.pad_token_id, vrl), tokenizer

    def _from_internvl(self, folder: str, vrl: VRLConfig) -> tuple[ViTPModel, Any]:
        from vitp_core.checkpoints.internvl import build_vitp_model_from_internvl

        return build_vitp_model_from_internvl(
            folder,
            vrl=vrl,
            img_size=self.hparams.img_size,
            drop_path_rate=self.hparams.drop_path_rate,
        )

    def forward(self, collated: CollatedBatch) -> torch.Tensor:
        """Loss of a collated batch."""
        assert collated.batch is not None
        return self.model(collated.batch).loss

    def _zero_loss(self) -> torch.Tensor:
        """A zero loss attached to the graph, for a batch whose records were all skipped."""
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.stack([p.sum() for p in params]).sum() * 0.0

    def training_step(self, collated: CollatedBatch, batch_idx: int) -> torch.Tensor:
        """One step; skipped records of the batch are counted, never fatal."""
        self.skipped_records.update((skipped_key(e), e) for e in collated.skipped)
        self.log("train/skipped_records", float(len(self.skipped_records)), reduce_fx="max")
        if collated.batch is None:
            return self._zero_loss()
        self._step_has_data = True
        out = self.model(collated.batch)
        self._step_loss = out.loss.detach()
        size = collated.batch.input_ids.shape[0]
        self.log("train/loss", out.loss, prog_bar=True, batch_size=size)
        self.log("train/seq_len", float(out.seq_len), batch_size=size)
        self.log("train/pad_fraction", out.pad_fraction, batch_size=size)
        self.log("train/visual_tokens", float(out.visual_tokens), batch_size=size)
        return out.loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Skip a step whose gradients are NaN/Inf or that saw no record; count it.

        The decision is taken across all processes (gradients are already reduced), and
        a skipped step's gradients are dropped, so the optimizer leaves the weights and
        its moments alone. Raises after ``max_nonfinite_steps`` non-finite steps in a row
        (with fp16's gradient scaler, an overflow with a finite loss is the scaler's to
        handle and does not count towards them).
        """
        params = [p for group in optimizer.param_groups for p in group["params"]]
        grads = [p.grad for p in params if p.grad is not None]
        loss = self._step_loss
        flags = torch.tensor(
            [
                float(not gradients_finite(grads)),
                float(self._step_has_data),
                float(loss is not None and not bool(torch.isfinite(loss))),
            ],
            device=self.device,
        )
        if self._trainer is not None:
            flags = self.trainer.strategy.reduce(flags, reduce_op="sum")
        self._step_has_data, self._step_loss = False, None
        finite, has_data, loss_finite = bool(flags[0] == 0), bool(flags[1] > 0), bool(flags[2] == 0)
        overflow = not finite and loss_finite and self._grad_scaler() is not None
        step = self.global_step
        if not self.health.record(step, finite=finite, has_data=has_data, scaler_overflow=overflow):
            drop_gradients(params)
            if not finite and not overflow:
                log.warning(
                    "step %d: NaN/Inf loss or gradient, step skipped (%d in a row, %d in all)",
                    step,
                    self.health.nonfinite_in_a_row,
                    self.health.nonfinite_steps,
                )
        if self._trainer is not None:
            self.log("train/nonfinite_steps", float(self.health.nonfinite_steps), reduce_fx="max")

    def _grad_scaler(self) -> Any:
        """The fp16 gradient scaler in use, if any."""
        if self._trainer is None:
            return None
        return getattr(self.trainer.strategy.precision_plugin, "scaler", None)

    def on_train_end(self) -> None:
        """Refuse a run that never updated the weights from a record."""
        if self.health.trained_steps == 0:
            raise NothingTrainedError(self.nothing_trained_message())

    def gather_skipped_records(self) -> dict[str, BadRecordError]:
        """Merge every rank's skipped records into :attr:`skipped_records` and return them.

        A collective under DDP (every rank must call it); a no-op in a single process.
        """
        self.skipped_records = gather_skipped_records(self.skipped_records)
        return self.skipped_records

    def nothing_trained_message(self) -> str:
        """The one-line error of a run that trained on nothing."""
        return (
            f"the run took {self.global_step} optimizer step(s) but none trained on a record "
            f"({self.health.empty_steps} had every record skipped, "
            f"{self.health.nonfinite_steps} a NaN/Inf loss or gradient; "
            f"{len(self.skipped_records)} record(s) skipped): nothing was exported. Check "
            "bad_records.jsonl and `vitp corpus validate`, model.max_seq_len and "
            "trainer.max_steps."
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep skipped records, step counts and the run-defining settings in the checkpoint.

        Lightning calls it on every rank when a checkpoint is saved; the skipped records
        of all ranks are gathered here (a collective) and the checkpoint keeps them all.
        """
        self.gather_skipped_records()  # every rank's, so any resume restores them all
        checkpoint[CHECKPOINT_KEY] = {
            "skipped_records": skipped_to_state(self.skipped_records.values()),
            "health": self.health.state_dict(),
            "run_settings": copy.deepcopy(self.run_settings),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore what :meth:`on_save_checkpoint` kept; refuse changed run settings on resume."""
        state = checkpoint.get(CHECKPOINT_KEY) or {}
        if self._resuming():
            datamodule = self.trainer.datamodule
            check_resume_settings(
                self.trainer.ckpt_path or "the checkpoint",
                state.get("run_settings") or {},
                self.run_settings,
                checkpoint.get("datamodule_hyper_parameters"),
                dict(datamodule.hparams) if datamodule is not None else None,
            )
        restored = skipped_from_state(state.get("skipped_records", []))
        self.skipped_records = merge_skipped_records(self.skipped_records.values(), restored)
        if "health" in state:
            self.health.load_state_dict(state["health"])
        else:  # a checkpoint of an older version: its steps did train
            self.health.trained_steps = int(checkpoint.get("global_step", 0))

    def _resuming(self) -> bool:
        from lightning.pytorch.trainer.states import TrainerFn

        return self._trainer is not None and self.trainer.state.fn == TrainerFn.FITTING

    def validation_step(self, collated: CollatedBatch, batch_idx: int) -> None:
        """Validation loss (no VRL: the model is in eval mode)."""
        if collated.batch is not None:
            size = collated.batch.input_ids.shape[0]
            self.log("val/loss", self.model(collated.batch).loss, prog_bar=True, batch_size=size)

    def configure_optimizers(self) -> dict[str, Any]:
        """AdamW with warmup + cosine, stepped every optimizer step."""
        hp = self.hparams
        groups = optimizer_parameter_groups(
            self.model,
            vit=self.model.vit,
            lr=hp.lr,
            vit_lr_scale=hp.vit_lr_scale,
            weight_decay=hp.weight_decay,
            recipe=hp.get("optimizer_recipe", "vitp"),
        )
        optimizer = torch.optim.AdamW(groups, lr=hp.lr, betas=tuple(hp.betas))
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        scheduler = cosine_with_warmup(optimizer, total, hp.warmup_ratio, hp.min_lr_ratio)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def backbone_metadata(
        self, corpus: dict[str, Any] | None = None, extra: dict[str, Any] | None = None
    ) -> BackboneMetadata:
        """Sidecar metadata of the current ViT for :func:`vitp_core.export.export_backbone`."""
        return metadata_from_hparams(
            dict(self.hparams), self.model.vit, self.global_step, corpus, extra
        )


def metadata_from_hparams(
    hparams: dict[str, Any],
    vit: Any,
    steps: int,
    corpus: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> BackboneMetadata:
    """Build export metadata from the module's hyper-parameters and its ViT.

    ``extra`` (e.g. the final image reliance) is recorded next to the run's ``lineage``:
    the stages it continued from.
    """
    size = hparams.get("img_size", 128)
    processor_mean = hparams.get("mean")
    in_chans = int(vit.patch_embed.proj.weight.shape[1])
    if processor_mean is None and in_chans == 3:
        from vitp_core.data.processor import IMAGENET_MEAN, IMAGENET_STD

        mean, std = list(IMAGENET_MEAN), list(IMAGENET_STD)
    else:
        mean = processor_mean or [0.5] * in_chans
        std = hparams.get("std") or [0.25] * in_chans
    model_kwargs = dict(hparams.get("vit_kwargs") or {})
    if hparams.get("architecture_origin") or hparams.get("init_from"):
        model_kwargs.update(getattr(vit, "vitp_model_kwargs", {}))
    return BackboneMetadata(
        model=str(getattr(vit, "vitp_model_name", hparams.get("vit"))),
        model_kwargs=model_kwargs,
        img_size=(size, size),
        patch_size=int(vit.patch_embed.patch_size[0]),
        in_chans=in_chans,
        embed_dim=int(vit.embed_dim),
        band_names=hparams.get("band_names"),
        mean=list(mean),
        std=list(std),
        corpus=corpus or {"name": hparams.get("corpus_name")},
        vrl={
            "ratio": hparams.get("vrl_ratio"),
            "apply_prob": hparams.get("vrl_apply_prob"),
            "mode": hparams.get("vrl_mode"),
        },
        steps=int(steps),
        extra={"lineage": list(hparams.get("lineage") or []), **(extra or {})},
    )
