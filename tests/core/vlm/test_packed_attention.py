"""The per-sample attention of packed rows (vitp_core/vlm/packed_attention.py)."""

import pytest
import torch
from tiny_data import TINY_ARCHITECTURE
from torch.nn import functional as F

from vitp_core.vlm.language_model import build_language_model
from vitp_core.vlm.packed_attention import (
    PACKED_ATTENTION,
    packed_sdpa_attention,
    restore_attention,
    use_packed_attention,
)
from vitp_core.vlm.tokenizer import build_byte_tokenizer

TINY_LM = TINY_ARCHITECTURE["lm_config"]


class _Layer(torch.nn.Module):
    is_causal = True
    num_key_value_groups = 2


def test_each_segment_attends_only_to_itself_and_padding_is_zero() -> None:
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(1, 2, 9, 4, generator=generator)
    key = torch.randn(1, 1, 9, 4, generator=generator)
    value = torch.randn(1, 1, 9, 4, generator=generator)
    out, weights = packed_sdpa_attention(
        _Layer(), query, key, value, None, packed_segments=((0, 0, 3), (0, 3, 7))
    )
    assert weights is None and out.shape == (1, 9, 2, 4)
    for start, end in ((0, 3), (3, 7)):
        alone = F.scaled_dot_product_attention(
            query[:, :, start:end],
            key[:, :, start:end].repeat(1, 2, 1, 1),
            value[:, :, start:end].repeat(1, 2, 1, 1),
            is_causal=True,
        )
        torch.testing.assert_close(out[:, start:end], alone.transpose(1, 2))
    assert not out[:, 7:].any()  # the two padding positions


def test_segments_with_a_gap_are_refused() -> None:
    query = torch.zeros(1, 2, 6, 4)
    kv = torch.zeros(1, 1, 6, 4)
    with pytest.raises(ValueError, match="gap at position 2"):
        packed_sdpa_attention(_Layer(), query, kv, kv, None, packed_segments=((0, 0, 2), (0, 3, 6)))


def test_an_lm_that_cannot_switch_its_attention_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lm = build_language_model(build_byte_tokenizer(), config=TINY_LM)
    use_packed_attention(lm)
    assert lm.config._attn_implementation == PACKED_ATTENTION
    restore_attention(lm)
    assert lm.config._attn_implementation == "sdpa"
    monkeypatch.setattr(lm, "set_attn_implementation", lambda name: None)  # e.g. remote code
    with pytest.raises(ValueError, match="pack_sequences false"):
        use_packed_attention(lm)
