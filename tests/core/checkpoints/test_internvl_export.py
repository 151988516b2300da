"""InternVL exports the official stack loads: every field its configuration classes read,
round-tripped through those keys alone (no official code is imported)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_checkpoints import write_internvl_folder
from transformers import Qwen2Config, Qwen2ForCausalLM

from vitp_core.checkpoints.internvl import build_vitp_model_from_internvl, save_internvl_folder

#: Arguments of InternVL's ``InternVLChatConfig.__init__`` (configuration_internvl_chat.py).
INTERNVL_CHAT_FIELDS = (
    "vision_config",
    "llm_config",
    "use_backbone_lora",
    "use_llm_lora",
    "pad2square",
    "select_layer",
    "force_image_size",
    "downsample_ratio",
    "template",
    "dynamic_image_size",
    "use_thumbnail",
    "ps_version",
    "min_dynamic_patch",
    "max_dynamic_patch",
)
#: Arguments of InternVL's ``InternVisionConfig.__init__``.
INTERNVISION_FIELDS = (
    "num_channels",
    "patch_size",
    "image_size",
    "qkv_bias",
    "hidden_size",
    "num_attention_heads",
    "intermediate_size",
    "qk_normalization",
    "num_hidden_layers",
    "use_flash_attn",
    "hidden_act",
    "norm_type",
    "layer_norm_eps",
    "dropout",
    "drop_path_rate",
    "attention_dropout",
    "initializer_range",
    "initializer_factor",
)
#: Arguments of ``Qwen2Config.__init__`` in transformers 4.37.2, the version ViTP pins.
QWEN2_FIELDS_4_37 = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "hidden_act",
    "max_position_embeddings",
    "initializer_range",
    "rms_norm_eps",
    "use_cache",
    "tie_word_embeddings",
    "rope_theta",
    "use_sliding_window",
    "sliding_window",
    "max_window_layers",
    "attention_dropout",
)
ROPE_THETA = 1_000_000.0  # InternVL2.5-1B's (tiny_checkpoints), far from the 10000 default


@pytest.fixture(scope="module", params=[False, True], ids=["untied", "tied"])
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    root = tmp_path_factory.mktemp("export")
    source = write_internvl_folder(root / "InternVL2_5-1B", tied=request.param)
    model, tokenizer = build_vitp_model_from_internvl(source)
    # No source folder: the config is written from the model alone.
    return model.eval(), save_internvl_folder(model, tokenizer, root / "out")


def _config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


def test_config_has_every_field_the_official_classes_read(exported: tuple) -> None:
    model, folder = exported
    config = _config(folder)
    assert set(INTERNVL_CHAT_FIELDS) <= config.keys()
    assert set(INTERNVISION_FIELDS) <= config["vision_config"].keys()
    llm = config["llm_config"]
    assert set(QWEN2_FIELDS_4_37) <= llm.keys()
    assert llm["architectures"] == ["Qwen2ForCausalLM"]  # InternVLChatConfig dispatches on it
    assert llm["rope_theta"] == ROPE_THETA
    assert llm["tie_word_embeddings"] is False  # InternVLChatConfig forces it
    assert (config["ps_version"], config["template"], config["select_layer"]) == (
        "v2",
        "internvl2_5",
        -1,
    )
    lm_config = model.language_model.config
    for key in QWEN2_FIELDS_4_37:
        if key not in ("rope_theta", "tie_word_embeddings"):
            assert llm[key] == getattr(lm_config, key), key


def test_official_keys_alone_rebuild_the_same_language_model(exported: tuple) -> None:
    """What transformers 4.37 builds: Qwen2Config(**the 4.37 keys), untied, strict load."""
    model, folder = exported
    llm = _config(folder)["llm_config"]
    config = Qwen2Config(**{key: llm[key] for key in QWEN2_FIELDS_4_37})
    official = Qwen2ForCausalLM(config).eval()
    prefix = "language_model."
    state = {k[len(prefix) :]: v for k, v in load_file(folder / "model.safetensors").items()}
    official.load_state_dict(
        {k: v for k, v in state.items() if k.startswith(("model.", "lm_head."))}
    )
    ids = torch.randint(0, llm["vocab_size"], (1, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model.language_model(input_ids=ids).logits
        torch.testing.assert_close(official(input_ids=ids).logits, expected)
        # The key matters: without rope_theta the official class falls back to 10000.
        fallback = Qwen2ForCausalLM(
            Qwen2Config(**{k: llm[k] for k in QWEN2_FIELDS_4_37 if k != "rope_theta"})
        ).eval()
        fallback.load_state_dict(official.state_dict())
        assert not torch.allclose(fallback(input_ids=ids).logits, expected, atol=1e-3)


def test_export_reloads_in_vitp_and_keeps_its_tokenizer_files(exported: tuple) -> None:
    model, folder = exported
    for name in ("vocab.json", "merges.txt", "added_tokens.json", "special_tokens_map.json"):
        assert (folder / name).is_file()
    reloaded, _ = build_vitp_model_from_internvl(folder)
    ids = torch.randint(0, 200, (1, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(
            reloaded.eval().language_model(input_ids=ids).logits,
            model.language_model(input_ids=ids).logits,
        )
