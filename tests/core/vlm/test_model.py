import pytest
import torch
from tiny_data import TINY_ARCHITECTURE

from vitp_core.backbone import create_backbone
from vitp_core.corpus.records import ConversationTurn
from vitp_core.data.collate import collate_samples
from vitp_core.data.processor import ProcessedSample
from vitp_core.vlm.chat import encode_conversation
from vitp_core.vlm.language_model import build_language_model
from vitp_core.vlm.model import ViTPModel
from vitp_core.vlm.tokenizer import IMG_CONTEXT_TOKEN, build_byte_tokenizer
from vitp_core.vlm.vrl import VRLConfig

TINY_LM = TINY_ARCHITECTURE["lm_config"]


def _model(vrl: VRLConfig) -> tuple[ViTPModel, object]:
    torch.manual_seed(0)
    tokenizer = build_byte_tokenizer()
    vit = create_backbone("vitp_tiny_patch16_224", img_size=64, depth=1, embed_dim=32, num_heads=2)
    lm = build_language_model(tokenizer, config=TINY_LM)
    model = ViTPModel(
        vit, lm, tokenizer.convert_tokens_to_ids(IMG_CONTEXT_TOKEN), tokenizer.pad_token_id, vrl
    )
    return model, tokenizer


def test_tokens_per_tile() -> None:
    model, _ = _model(VRLConfig(0.0))
    assert model.tokens_per_tile(64, 64) == 4 and model.tokens_per_tile(128, 64) == 8


def _batch(tokenizer, n_images=(1, 2), tokens_per_image=4):
    samples = []
    for i, n in enumerate(n_images):
        turns = [
            ConversationTurn("user", "<image>" * n + f"\nQ{i}?"),
            ConversationTurn("assistant", f"A{i}."),
        ]
        enc = encode_conversation(tokenizer, turns, [tokens_per_image] * n)
        samples.append(
            ProcessedSample(
                torch.tensor(enc.input_ids), torch.tensor(enc.labels), torch.randn(n, 3, 64, 64)
            )
        )
    return collate_samples(samples, tokenizer.pad_token_id).batch


@pytest.mark.parametrize("mode", ["late", "early"])
def test_vrl_shortens_the_sequence_in_training_only(mode: str) -> None:
    model, tokenizer = _model(VRLConfig(0.75, 1.0, mode))
    batch = _batch(tokenizer)
    model.train()
    out = model(batch)
    assert out.visual_tokens == 1 + 2  # floor(4 * .75) = 3 of 4 per tile dropped
    assert out.seq_len == batch.input_ids.shape[1] - (2 * 3)  # the longest row lost 6 tokens
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert model.vit.patch_embed.proj.weight.grad is not None
    model.eval()
    with torch.no_grad():
        evaluated = model(batch)
    assert evaluated.seq_len == batch.input_ids.shape[1] and evaluated.visual_tokens == 12


def test_padded_mode_drops_but_keeps_length() -> None:
    model, tokenizer = _model(VRLConfig(0.75, 1.0, "padded"))
    batch = _batch(tokenizer)
    out = model.train()(batch)
    assert out.seq_len == batch.input_ids.shape[1] and out.visual_tokens == 3


def test_early_and_late_agree_without_dropping() -> None:
    model, tokenizer = _model(VRLConfig(0.0))
    batch = _batch(tokenizer)
    model.eval()
    pixels = batch.pixel_values
    full = model.encode_tiles(pixels)
    none_dropped = torch.zeros(3, 4, dtype=torch.bool)
    none_dropped[0, 0] = True  # force the early path with one token dropped in tile 0
    early = model.encode_tiles(pixels, none_dropped)
    # Tiles 1 and 2 are untouched by the drop and must match the full pass exactly.
    torch.testing.assert_close(early[3:], full[4:], rtol=1e-4, atol=1e-5)


def test_mismatched_image_tokens_are_a_clear_error() -> None:
    model, tokenizer = _model(VRLConfig(0.0))
    batch = _batch(tokenizer, tokens_per_image=16)  # 64 px tiles give 4
    with pytest.raises(ValueError, match="disagree on image size"):
        model(batch)
