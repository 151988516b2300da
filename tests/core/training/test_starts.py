"""Staged recipes: a ViT-only start, then `init_from` a previous vitp run."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from safetensors.torch import save_file

from vitp_core.backbone import create_backbone
from vitp_core.checkpoints.internvit import timm_to_internvit
from vitp_core.data.datamodule import InstructionDataModule
from vitp_core.export import BackboneMetadata, export_backbone
from vitp_core.training.module import ViTPPretrainModule
from vitp_core.training.starts import ViTStartError, find_run_checkpoint, load_vit_weights

VIT_KWARGS = {"depth": 2, "embed_dim": 32, "num_heads": 2}
LM = {
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "intermediate_size": 64,
}


def _start_export(folder: Path) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(1)
    vit = create_backbone("vitp_tiny_patch16_224", img_size=32, **VIT_KWARGS)
    meta = BackboneMetadata(
        model="vitp_tiny_patch16_224",
        model_kwargs=VIT_KWARGS,
        img_size=(32, 32),
        patch_size=16,
        in_chans=3,
        embed_dim=32,
    )
    return export_backbone(vit, folder / "start.safetensors", meta), vit


def _fit(module: ViTPPretrainModule, corpus: Path, run_dir: Path, steps: int) -> None:
    data = InstructionDataModule(corpus=str(corpus), processor=module.processor, batch_size=4)
    L.Trainer(
        max_steps=steps,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=run_dir,
        callbacks=[ModelCheckpoint(dirpath=run_dir / "checkpoints", save_last=True)],
    ).fit(module, datamodule=data)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_vit_weights_from_export_timm_and_internvit_files(tmp_path: Path) -> None:
    export, vit = _start_export(tmp_path)
    plain = tmp_path / "plain.safetensors"
    save_file(vit.state_dict(), str(plain))
    for path in (export, plain):
        target = create_backbone("vitp_tiny_patch16_224", img_size=32, **VIT_KWARGS)
        load_vit_weights(target, path)
        assert _same(target.state_dict(), vit.state_dict()), path
    intern_vit = create_backbone("vitp_intern300m_patch14_448", img_size=28, **VIT_KWARGS)
    intern = tmp_path / "intern.safetensors"
    state = timm_to_internvit(intern_vit.state_dict())
    save_file({k: v.contiguous() for k, v in state.items()}, str(intern))
    target = create_backbone("vitp_intern300m_patch14_448", img_size=28, **VIT_KWARGS)
    load_vit_weights(target, intern)
    assert _same(target.state_dict(), intern_vit.state_dict())


def test_vit_weights_that_do_not_fit_are_named(tmp_path: Path) -> None:
    export, _ = _start_export(tmp_path)
    deeper = create_backbone(
        "vitp_tiny_patch16_224", img_size=32, depth=3, embed_dim=32, num_heads=2
    )
    with pytest.raises(ViTStartError, match=r"missing \['blocks\.2\."):
        load_vit_weights(deeper, tmp_path / "start.safetensors")
    wider = create_backbone(
        "vitp_tiny_patch16_224", img_size=32, depth=2, embed_dim=64, num_heads=2
    )
    with pytest.raises(ViTStartError, match="wrong shape"):
        load_vit_weights(wider, export)


def test_align_then_domain_stage_chain(tmp_path: Path, tiny_corpus: Path) -> None:
    export, start_vit = _start_export(tmp_path)
    # Stage 1, alignment: the ViT (architecture from the export's sidecar) stays frozen.
    align = ViTPPretrainModule(
        vit_weights=str(export), img_size=32, lm_config=LM, freeze_vit=True, vrl_ratio=0.0
    )
    assert align.hparams.vit_kwargs == VIT_KWARGS
    _fit(align, tiny_corpus, tmp_path / "align", steps=3)
    assert _same(align.model.vit.state_dict(), start_vit.state_dict())
    # Stage 2, domain ViTP: everything from the alignment run, whatever the settings say.
    assert find_run_checkpoint(tmp_path / "align") == tmp_path / "align/checkpoints/last.ckpt"
    domain = ViTPPretrainModule(
        init_from=str(tmp_path / "align"), vit_kwargs={"depth": 5}, img_size=64, lm_config={}
    )
    assert _same(domain.model.state_dict(), align.model.state_dict())
    assert domain.hparams.vit_kwargs == VIT_KWARGS and domain.hparams.img_size == 32
    (stage,) = domain.hparams.lineage
    assert stage["steps"] == 3 and stage["frozen"] == ["vit"]
    assert stage["vit_weights"] == str(export) and stage["corpus"] == str(tiny_corpus)
    _fit(domain, tiny_corpus, tmp_path / "domain", steps=2)
    assert not _same(domain.model.vit.state_dict(), start_vit.state_dict())
    meta = domain.backbone_metadata()
    assert meta.extra["lineage"] == [stage] and meta.steps == 2
    # A third stage records both earlier ones.
    third = ViTPPretrainModule(init_from=str(tmp_path / "domain/checkpoints/last.ckpt"))
    assert [s["steps"] for s in third.hparams.lineage] == [3, 2]


def test_vit_weights_from_a_timm_pretrained_tag(tmp_path: Path) -> None:
    """`timm:<name>` takes timm's own pretrained weights (read from a local file here)."""
    kwargs = {"depth": 2, "embed_dim": 32, "num_heads": 2, "img_size": 32}
    torch.manual_seed(3)
    source = create_backbone("vit_tiny_patch16_224", **kwargs)
    save_file(source.state_dict(), str(tmp_path / "weights.safetensors"))
    overlay = {"file": str(tmp_path / "weights.safetensors"), "num_classes": 0}
    module = ViTPPretrainModule(
        vit_weights="timm:vit_tiny_patch16_224",
        vit_kwargs={"depth": 2, "embed_dim": 32, "num_heads": 2, "pretrained_cfg_overlay": overlay},
        img_size=32,
        lm_config=LM,
    )
    assert module.hparams.vit == "vit_tiny_patch16_224"
    assert _same(module.model.vit.state_dict(), source.state_dict())


def test_init_from_a_corrupted_checkpoint_is_refused(tmp_path: Path, tiny_corpus: Path) -> None:
    from vitp_core.training.checkpoint_checksum import (
        CheckpointChecksumError,
        write_checkpoint_checksum,
    )

    module = ViTPPretrainModule(vit_kwargs=VIT_KWARGS, img_size=32, lm_config=LM)
    _fit(module, tiny_corpus, tmp_path / "run", steps=1)
    checkpoint = tmp_path / "run/checkpoints/last.ckpt"
    write_checkpoint_checksum(checkpoint)
    ViTPPretrainModule(init_from=str(tmp_path / "run"))  # matches its record
    with checkpoint.open("r+b") as handle:
        handle.seek(-8, 2)
        handle.write(b"corrupt!")
    with pytest.raises(CheckpointChecksumError, match="does not match"):
        ViTPPretrainModule(init_from=str(tmp_path / "run"))
