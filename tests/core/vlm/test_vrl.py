import math

import pytest
import torch

from vitp_core.vlm.vrl import VRLConfig, compact_sequences, draw_visual_drop


@pytest.mark.parametrize("ratio", [0.5, 0.75, 0.9])
def test_late_drops_floor_n_ratio_per_sample(ratio: float) -> None:
    tile_sample = torch.tensor([0, 0, 1, 2, 2, 2])
    drop = draw_visual_drop(
        VRLConfig(ratio, 1.0, "late"), tile_sample, 10, 3, torch.Generator().manual_seed(0)
    )
    for sample, tiles in enumerate([2, 1, 3]):
        assert int(drop[tile_sample == sample].sum()) == math.floor(tiles * 10 * ratio)


def test_early_drops_floor_ratio_per_tile() -> None:
    drop = draw_visual_drop(VRLConfig(0.75, 1.0, "early"), torch.tensor([0, 1, 1]), 16, 2)
    assert drop.sum(1).tolist() == [12, 12, 12]


def test_each_sample_draws_independently() -> None:
    generator = torch.Generator().manual_seed(1)
    tile_sample = torch.arange(400)
    drop = draw_visual_drop(VRLConfig(0.75, 0.25, "late"), tile_sample, 4, 400, generator)
    dropped = drop.any(1)
    assert 60 < int(dropped.sum()) < 140  # about a quarter of the samples
    assert set(drop.sum(1).tolist()) == {0, 3}
    patterns = {tuple(row.tolist()) for row in drop[dropped]}
    assert len(patterns) > 1  # not one shared mask


def test_disabled_vrl_drops_nothing() -> None:
    drop = draw_visual_drop(VRLConfig(0.0), torch.tensor([0, 1]), 8, 2)
    assert not drop.any()


def test_compaction_shortens_and_keeps_positions() -> None:
    ids = torch.tensor([[1, 9, 9, 9, 9, 2, 3], [1, 9, 9, 2, 0, 0, 0]])
    labels = torch.tensor([[-100] * 5 + [2, 3], [-100, -100, -100, 2, -100, -100, -100]])
    mask = torch.tensor([[1] * 7, [1, 1, 1, 1, 0, 0, 0]])
    drop = torch.tensor([[0, 1, 0, 1, 1, 0, 0], [0, 1, 0, 0, 0, 0, 0]], dtype=torch.bool)
    out = compact_sequences(ids, labels, mask, drop, pad_token_id=0)
    assert out.input_ids.tolist() == [[1, 9, 2, 3], [1, 9, 2, 0]]
    assert out.position_ids.tolist() == [[0, 2, 5, 6], [0, 2, 3, 0]]
    assert out.labels.tolist() == [[-100, -100, 2, 3], [-100, -100, 2, -100]]
    assert out.attention_mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]


def test_padded_mode_keeps_the_length() -> None:
    ids = torch.tensor([[1, 9, 9, 2]])
    out = compact_sequences(
        ids,
        ids.clone(),
        torch.ones_like(ids),
        torch.tensor([[0, 1, 0, 0]], dtype=torch.bool),
        0,
        keep_length=True,
    )
    assert out.input_ids.shape == (1, 4) and out.attention_mask.tolist() == [[1, 1, 1, 0]]


@pytest.mark.parametrize("bad", [{"ratio": 1.0}, {"apply_prob": 1.5}, {"mode": "middle"}])
def test_invalid_settings_are_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        VRLConfig(**bad)
