import copy

import pytest
import torch

from vitp_core.backbone import create_backbone
from vitp_core.corpus.records import ConversationTurn
from vitp_core.data.collate import collate_samples
from vitp_core.data.processor import ProcessedSample
from vitp_core.vlm.chat import encode_conversation
from vitp_core.vlm.language_model import build_language_model
from vitp_core.vlm.model import ViTPModel
from vitp_core.vlm.packing import plan_rows
from vitp_core.vlm.tokenizer import IMG_CONTEXT_TOKEN, build_byte_tokenizer
from vitp_core.vlm.vrl import VRLConfig

TINY_LM = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "intermediate_size": 64,
}
# Short class answers and long captions, as in the remote-sensing mixtures.
ANSWERS = ["Farm.", "A dense residential area with many small houses along curved roads.", "Yes."]


def _models(vrl: VRLConfig, pack_length: int | None = None) -> tuple[ViTPModel, ViTPModel, object]:
    torch.manual_seed(0)
    tokenizer = build_byte_tokenizer()
    vit = create_backbone("vitp_tiny_patch16_224", img_size=64, depth=1, embed_dim=32, num_heads=2)
    lm = build_language_model(tokenizer, config=TINY_LM)
    context = tokenizer.convert_tokens_to_ids(IMG_CONTEXT_TOKEN)
    plain = ViTPModel(vit, lm, context, tokenizer.pad_token_id, vrl)
    packed = copy.deepcopy(plain)
    packed.set_packing(True, pack_length)
    return plain.double(), packed.double(), tokenizer


def _batch(tokenizer, n: int = 5):
    generator = torch.Generator().manual_seed(1)
    samples = []
    for i in range(n):
        turns = [
            ConversationTurn("user", "<image>\nQ?"),
            ConversationTurn("assistant", ANSWERS[i % 3]),
        ]
        if i % 2:
            turns += [ConversationTurn("user", "Again?"), ConversationTurn("assistant", "No.")]
        enc = encode_conversation(tokenizer, turns, [4])
        pixels = torch.randn(1, 3, 64, 64, generator=generator, dtype=torch.float64)
        samples.append(
            ProcessedSample(torch.tensor(enc.input_ids), torch.tensor(enc.labels), pixels)
        )
    return collate_samples(samples, tokenizer.pad_token_id).batch


def test_plan_rows_first_fit_longest_first() -> None:
    assert plan_rows([5, 2, 9, 3, 4], capacity=9) == [[2], [0, 4], [3, 1]]
    assert plan_rows([12, 3], capacity=9) == [[0], [1]]


@pytest.mark.parametrize(
    ("mode", "pack_length"), [("late", None), ("early", None), ("off", None), ("late", 60)]
)
def test_packed_loss_and_gradients_equal_the_unpacked_batch(
    mode: str, pack_length: int | None
) -> None:
    vrl = VRLConfig(0.0) if mode == "off" else VRLConfig(0.75, 0.5, mode)
    plain, packed, tokenizer = _models(vrl, pack_length)
    batch = _batch(tokenizer)
    outs = []
    for model in (plain, packed):
        model.train()
        model.generator = torch.Generator().manual_seed(3)  # the same VRL draw
        out = model(batch)
        out.loss.backward()
        outs.append(out)
    # transformers computes the causal-LM loss on float32 logits, even for a float64 model:
    # the two agree to float32 rounding, not to float64's
    assert torch.allclose(outs[0].loss, outs[1].loss, rtol=1e-6, atol=0)
    for p, q in zip(plain.parameters(), packed.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, rtol=1e-5, atol=1e-8)
    assert outs[1].real_tokens == outs[0].real_tokens
    if pack_length is None:  # one row, nothing padded
        assert outs[1].padded_slots == outs[1].real_tokens < outs[0].padded_slots
    else:  # several rows, none longer than the cap or the longest sample
        assert outs[1].padded_slots > outs[1].seq_len
        assert outs[1].seq_len <= max(pack_length, outs[0].seq_len)


def test_a_sample_never_sees_the_others_in_its_row() -> None:
    _, packed, tokenizer = _models(VRLConfig(0.0))
    batch = _batch(tokenizer, n=3)
    changed = copy.deepcopy(batch)
    changed.pixel_values[0] += 1.0  # only sample 0's image differs
    changed.input_ids[0, -3:] = torch.where(
        changed.attention_mask[0, -3:].bool(), 65, changed.input_ids[0, -3:]
    )
    a, b = packed.eval().answer_nll(batch), packed.eval().answer_nll(changed)
    others = a.sample != 0
    assert torch.allclose(a.nll[others], b.nll[others], rtol=0, atol=1e-12)
    assert not torch.allclose(a.nll[~others], b.nll[~others])


def test_turning_packing_off_restores_the_lm_attention() -> None:
    _, packed, _ = _models(VRLConfig(0.0))
    assert packed.language_model.config._attn_implementation != "sdpa"
    packed.set_packing(False)
    assert packed.language_model.config._attn_implementation == "sdpa"


def test_packed_float32_loss_matches_to_rounding() -> None:
    plain, packed, tokenizer = _models(VRLConfig(0.75, 1.0, "late"))
    plain, packed = plain.float(), packed.float()
    batch = _batch(tokenizer, n=6)
    batch.pixel_values = batch.pixel_values.float()
    losses = []
    for model in (plain, packed):
        model.generator = torch.Generator().manual_seed(5)
        losses.append(model.train()(batch).loss)
    assert torch.allclose(losses[0], losses[1], rtol=1e-5, atol=1e-6)


def test_answer_nll_is_the_same_packed_in_unpacked_order() -> None:
    plain, packed, tokenizer = _models(VRLConfig(0.0))
    batch = _batch(tokenizer)
    a, b = plain.eval().answer_nll(batch), packed.eval().answer_nll(batch)
    assert torch.equal(a.sample, b.sample)
    assert torch.allclose(a.nll, b.nll, atol=1e-10)


def test_packing_refuses_padded_vrl() -> None:
    plain, _, _ = _models(VRLConfig(0.0))
    with pytest.raises(ValueError, match="padded"):
        ViTPModel(
            plain.vit,
            plain.language_model,
            1,
            0,
            VRLConfig(0.75, 1.0, "padded"),
            pack_sequences=True,
        )
