"""Continue ViTP from an InternVL2.5 folder: build, load every weight, train, export, reload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_checkpoints import TINY_ARCH, TINY_LLM, write_internvl_folder

from vitp_core.backbone import create_backbone
from vitp_core.checkpoints.internvit import internvit_to_timm, load_internvit_backbone
from vitp_core.checkpoints.internvl import (
    backbone_from_state,
    build_vitp_model_from_internvl,
    internvl_state_dict,
    save_internvl_folder,
    split_internvl_state,
)
from vitp_core.checkpoints.internvl_config import read_internvl_config
from vitp_core.checkpoints.state_io import read_state_dict
from vitp_core.corpus.records import ConversationTurn
from vitp_core.vlm import VisualBatch, ViTPModel, VRLConfig
from vitp_core.vlm.chat import encode_conversation

PX = TINY_ARCH["patch"] * TINY_ARCH["grid"]  # 56 px tiles, 4x4 patches, 2x2 visual tokens


@pytest.fixture(scope="module")
def internvl_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_internvl_folder(tmp_path_factory.mktemp("hub") / "InternVL2_5-1B")


def _batch(model: ViTPModel, tokenizer, tiles: int = 2) -> VisualBatch:
    per_tile = model.tokens_per_tile(PX, PX)
    turns = [
        ConversationTurn("user", "<image>\nWhat is in this scene?"),
        ConversationTurn("assistant", "Two ships near a harbour."),
    ]
    encoded = encode_conversation(tokenizer, turns, [per_tile * tiles])
    ids = torch.tensor([encoded.input_ids])
    return VisualBatch(
        input_ids=ids,
        labels=torch.tensor([encoded.labels]),
        attention_mask=torch.ones_like(ids),
        pixel_values=torch.randn(tiles, 3, PX, PX, generator=torch.Generator().manual_seed(0)),
        tile_sample=torch.zeros(tiles, dtype=torch.long),
    )


def _assert_all_weights_loaded(model: ViTPModel, stored: dict[str, torch.Tensor]) -> None:
    parts = split_internvl_state(stored)
    vit_state = model.vit.state_dict()
    for key, value in internvit_to_timm(parts.vision).items():
        torch.testing.assert_close(vit_state[key], value.float(), msg=key)
    for key, value in parts.projector.items():
        torch.testing.assert_close(model.projector.state_dict()[key], value.float(), msg=key)
    lm_state = model.language_model.state_dict()
    for key, value in parts.language_model.items():
        torch.testing.assert_close(lm_state[key], value.float(), msg=key)


def test_config_fields_are_read(internvl_folder: Path) -> None:
    config = read_internvl_config(internvl_folder)
    assert config.llm_architecture == "Qwen2ForCausalLM"
    assert "attn_implementation" not in config.llm
    assert (config.template, config.downsample_ratio, config.image_size) == ("internvl2_5", 0.5, PX)
    assert (config.use_thumbnail, config.max_dynamic_patch) == (True, 12)
    assert config.vision["num_attention_heads"] == TINY_ARCH["num_heads"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("ps_version", "v1", "ps_version='v1'"),
        # InternVLChatConfig's default is v1: a config without the field is not v2.
        ("ps_version", None, "no ps_version, which InternVLChatConfig reads as 'v1'"),
        ("select_layer", -4, "select_layer=-4"),
        ("template", "Hermes-2", "template='Hermes-2'"),
        ("downsample_ratio", 0.25, "downsample_ratio=0.25"),
    ],
)
def test_configs_vitp_cannot_reproduce_are_refused(
    internvl_folder: Path, tmp_path: Path, field: str, value: object, message: str
) -> None:
    config = json.loads((internvl_folder / "config.json").read_text())
    if value is None:
        del config[field]
    else:
        config[field] = value
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        read_internvl_config(tmp_path)


def test_internlm2_and_missing_config_are_refused(internvl_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"InternVL2\.5 Hugging Face folder"):
        read_internvl_config(tmp_path)
    config = json.loads((internvl_folder / "config.json").read_text())
    config["llm_config"]["model_type"] = "internlm2"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="InternLM2"):
        read_internvl_config(tmp_path)


def test_split_accounts_for_every_key(internvl_folder: Path) -> None:
    stored = read_state_dict(internvl_folder)
    parts = split_internvl_state(stored)
    assert len(parts.vision) + len(parts.projector) + len(parts.language_model) == len(stored)
    assert set(parts.projector) == {f"{i}.{p}" for i in (0, 1, 3) for p in ("weight", "bias")}
    with pytest.raises(KeyError, match=r"base_model\.lora_A"):
        split_internvl_state(stored | {"base_model.lora_A": torch.zeros(1)})


def test_builds_the_vlm_with_every_weight(internvl_folder: Path) -> None:
    model, tokenizer = build_vitp_model_from_internvl(
        internvl_folder, vrl=VRLConfig(0.75), drop_path_rate=0.1
    )
    _assert_all_weights_loaded(model, read_state_dict(internvl_folder))
    assert model.projector.in_features == 4 * TINY_ARCH["embed_dim"]
    assert model.projector.out_features == TINY_LLM["hidden_size"]
    assert model.vit.blocks[0].attn.num_heads == TINY_ARCH["num_heads"]
    assert model.vit.blocks[-1].drop_path1.drop_prob == pytest.approx(0.1)
    assert model.image_token_id == tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")
    assert model.language_model.config._attn_implementation == "sdpa"
    assert len(tokenizer) == model.language_model.get_input_embeddings().num_embeddings


def test_tokenizer_renders_internvl2_5_conversations(internvl_folder: Path) -> None:
    from vitp_core.checkpoints.internvl_template import INTERNVL2_5_SYSTEM_MESSAGE

    _, tokenizer = build_vitp_model_from_internvl(internvl_folder)
    messages = [
        {"role": "user", "content": "<img><IMG_CONTEXT></img>\nDescribe."},
        {"role": "assistant", "content": "A field."},
    ]
    # InternVL's Conversation(sep_style=MPT): system + sep, then role + message + sep.
    sep = "<|im_end|>\n"
    expected = f"<|im_start|>system\n{INTERNVL2_5_SYSTEM_MESSAGE}{sep}"
    expected += f"<|im_start|>user\n{messages[0]['content']}{sep}"
    expected += f"<|im_start|>assistant\n{messages[1]['content']}{sep}"
    assert tokenizer.apply_chat_template(messages, tokenize=False) == expected
    custom = [{"role": "system", "content": "Be brief."}, *messages]
    assert tokenizer.apply_chat_template(custom, tokenize=False).startswith(
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
    )
    prompt = tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n") and expected.startswith(prompt)
    ids = tokenizer("<img><IMG_CONTEXT></img>", add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == ["<img>", "<IMG_CONTEXT>", "</img>"]


@pytest.mark.parametrize("vrl_mode", ["late", "early"])
def test_train_step_export_and_reload(internvl_folder: Path, tmp_path: Path, vrl_mode: str) -> None:
    model, tokenizer = build_vitp_model_from_internvl(
        internvl_folder, vrl=VRLConfig(0.5, mode=vrl_mode)
    )
    batch = _batch(model, tokenizer)
    model.generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = model.vit.blocks[0].attn.qkv.weight.detach().clone()
    loss = model(batch).loss
    assert torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    assert not torch.equal(model.vit.blocks[0].attn.qkv.weight, before)

    out = save_internvl_folder(model, tokenizer, tmp_path / "vitp_internvl", source=internvl_folder)
    exported = load_file(out / "model.safetensors")
    assert exported.keys() == read_state_dict(internvl_folder).keys()
    assert (out / "modeling_internvl_chat.py").is_file()
    reloaded, reloaded_tokenizer = build_vitp_model_from_internvl(out)
    _assert_all_weights_loaded(reloaded, exported)
    assert reloaded_tokenizer.get_vocab() == tokenizer.get_vocab()
    model.eval()
    reloaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(batch).loss, model(batch).loss)


def test_sharded_tied_folder_loads(tmp_path: Path) -> None:
    folder = write_internvl_folder(tmp_path / "sharded", tied=True, sharded=True)
    model, _ = build_vitp_model_from_internvl(folder)
    _assert_all_weights_loaded(model, read_state_dict(folder))
    lm = model.language_model
    assert lm.lm_head.weight.data_ptr() == lm.get_input_embeddings().weight.data_ptr()
    # InternVLChatConfig unties every LM, so the export stores lm_head for the official loader.
    exported = internvl_state_dict(model)
    torch.testing.assert_close(
        exported["language_model.lm_head.weight"],
        exported["language_model.model.embed_tokens.weight"],
    )


def test_missing_image_tokens_are_added_and_embeddings_grow(tmp_path: Path) -> None:
    folder = write_internvl_folder(tmp_path / "plain", image_tokens=False)
    model, tokenizer = build_vitp_model_from_internvl(folder)
    stored_rows = read_internvl_config(folder).llm["vocab_size"]
    assert len(tokenizer) == stored_rows + 3
    assert model.language_model.get_input_embeddings().num_embeddings == len(tokenizer)
    assert model.image_token_id >= stored_rows


def test_backbone_alone_loads_from_the_internvl_folder(internvl_folder: Path) -> None:
    vit = load_internvit_backbone(internvl_folder, patch_size=16)
    assert vit.blocks[0].attn.num_heads == TINY_ARCH["num_heads"]
    assert vit.patch_embed.proj.weight.shape[-1] == 16


def test_run_backbone_is_rebuilt_for_export(internvl_folder: Path) -> None:
    model, _ = build_vitp_model_from_internvl(internvl_folder)
    state = model.vit.state_dict()
    pixels = torch.randn(1, 3, PX, PX, generator=torch.Generator().manual_seed(5))
    rebuilt = backbone_from_state(state, img_size=PX, init_from=internvl_folder)
    assert rebuilt.blocks[0].attn.num_heads == TINY_ARCH["num_heads"]
    # What the export sidecar records rebuilds the same network through create_backbone.
    vit = model.vit
    again = create_backbone(vit.vitp_model_name, img_size=PX, **vit.vitp_model_kwargs)
    again.load_state_dict(state)
    with torch.no_grad():
        expected = model.vit.eval().forward_features(pixels)
        torch.testing.assert_close(rebuilt.forward_features(pixels), expected)
        torch.testing.assert_close(again.eval().forward_features(pixels), expected)
