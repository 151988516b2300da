"""Reading weight files: safetensors single/sharded, weights-only pickles, prefix filters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from vitp_core.checkpoints.state_io import find_weight_files, read_state_dict

STATE = {
    "vision_model.a": torch.ones(2),
    "mlp1.0.weight": torch.zeros(3),
    "language_model.b": torch.ones(1),
}


def _write_shards(folder: Path) -> Path:
    folder.mkdir()
    save_file(
        {"vision_model.a": STATE["vision_model.a"]}, folder / "model-00001-of-00002.safetensors"
    )
    rest = {k: v for k, v in STATE.items() if k != "vision_model.a"}
    save_file(rest, folder / "model-00002-of-00002.safetensors")
    weight_map = {"vision_model.a": "model-00001-of-00002.safetensors"}
    weight_map |= {k: "model-00002-of-00002.safetensors" for k in rest}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    return folder


def test_sharded_folder_reads_every_shard(tmp_path: Path) -> None:
    folder = _write_shards(tmp_path / "hf")
    assert [p.name for p in find_weight_files(folder)] == [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ]
    state = read_state_dict(folder)
    assert state.keys() == STATE.keys()
    assert read_state_dict(folder, prefixes=("mlp1.",)).keys() == {"mlp1.0.weight"}
    assert read_state_dict(folder, exclude_prefixes=("language_model.", "mlp1.")).keys() == {
        "vision_model.a"
    }


def test_missing_shard_and_empty_folder_are_named(tmp_path: Path) -> None:
    folder = _write_shards(tmp_path / "hf")
    (folder / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model-00002-of-00002"):
        read_state_dict(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no model\.safetensors"):
        read_state_dict(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        read_state_dict(tmp_path / "absent.safetensors")


def test_weights_only_pickles_unwrap_and_refuse_code(tmp_path: Path) -> None:
    torch.save({"state_dict": STATE, "epoch": 3}, tmp_path / "ok.pth")
    assert read_state_dict(tmp_path / "ok.pth").keys() == STATE.keys()
    torch.save({"model": STATE, "optimizer": Path("x")}, tmp_path / "code.pth")  # a pickled class
    with pytest.raises(ValueError, match=r"weights_only=True"):
        read_state_dict(tmp_path / "code.pth")
