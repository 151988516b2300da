"""Read weight files safely: safetensors (single or sharded) or ``torch.load(weights_only=True)``.

Official checkpoints come as one ``.safetensors`` file (``ViTP_ViT_L_300M_rs.safetensors``),
as a Hugging Face folder with ``model.safetensors`` or shards listed in
``model.safetensors.index.json`` (``OpenGVLab/InternVL2_5-1B``), or as a PyTorch pickle
(``.pth``/``.bin``). Pickles are only ever read with ``weights_only=True``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import safe_open

__all__ = ["find_weight_files", "read_state_dict"]

_SAFETENSORS_INDEX = "model.safetensors.index.json"
_SAFETENSORS_SINGLE = "model.safetensors"
_TORCH_SINGLE = ("pytorch_model.bin", "model.pth", "model.pt")
#: Wrapper keys some training frameworks put around the state dict.
_WRAPPER_KEYS = ("state_dict", "model", "module")


def find_weight_files(path: str | os.PathLike[str]) -> list[Path]:
    """List the weight files of a checkpoint file or a Hugging Face model folder.

    Args:
        path: A weights file, or a folder holding ``model.safetensors``, a sharded
            ``model.safetensors.index.json`` or ``pytorch_model.bin``.

    Returns:
        The files to read, in shard order.

    Raises:
        FileNotFoundError: When nothing loadable is there.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such checkpoint file or folder.")
    index = path / _SAFETENSORS_INDEX
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ValueError(f"{index}: no 'weight_map' (shard index of a Hugging Face model).")
        shards = sorted(set(weight_map.values()))
        missing = [name for name in shards if not (path / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{index} lists shards that are missing: {missing}.")
        return [path / name for name in shards]
    for name in (_SAFETENSORS_SINGLE, *_TORCH_SINGLE):
        if (path / name).is_file():
            return [path / name]
    raise FileNotFoundError(
        f"{path}: no {_SAFETENSORS_SINGLE}, {_SAFETENSORS_INDEX} or {_TORCH_SINGLE[0]} found; "
        "pass the weights file itself or a Hugging Face model folder."
    )


def _wanted(key: str, prefixes: Sequence[str] | None, exclude: Sequence[str]) -> bool:
    if key.startswith(tuple(exclude)):
        return False
    return prefixes is None or key.startswith(tuple(prefixes))


def _read_safetensors(
    file: Path, prefixes: Sequence[str] | None, exclude: Sequence[str]
) -> dict[str, torch.Tensor]:
    state = {}
    with safe_open(str(file), framework="pt") as handle:
        for key in handle.keys():
            if _wanted(key, prefixes, exclude):
                state[key] = handle.get_tensor(key)
    return state


def _read_torch(
    file: Path, prefixes: Sequence[str] | None, exclude: Sequence[str]
) -> dict[str, torch.Tensor]:
    try:
        payload = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # pickles with code objects are refused on purpose
        raise ValueError(
            f"{file}: cannot be read with torch.load(weights_only=True) ({err}). Convert it "
            "to safetensors with the tool that wrote it; vitp never unpickles arbitrary code."
        ) from err
    for key in _WRAPPER_KEYS:
        if isinstance(payload, dict) and isinstance(payload.get(key), dict):
            payload = payload[key]
    if not isinstance(payload, dict):
        raise ValueError(f"{file}: expected a state dict, found {type(payload).__name__}.")
    return {
        k: v
        for k, v in payload.items()
        if isinstance(v, torch.Tensor) and _wanted(k, prefixes, exclude)
    }


def read_state_dict(
    path: str | os.PathLike[str],
    *,
    prefixes: Sequence[str] | None = None,
    exclude_prefixes: Sequence[str] = (),
) -> dict[str, torch.Tensor]:
    """Read a checkpoint into a flat ``{name: tensor}`` dict on the CPU.

    Args:
        path: A ``.safetensors``/``.pth``/``.bin`` file or a Hugging Face model folder.
        prefixes: Keep only keys starting with one of these (e.g. ``("vision_model.",)``);
            with safetensors the other tensors are never read from disk.
        exclude_prefixes: Skip keys starting with one of these (e.g. ``("language_model.",)``).

    Returns:
        The tensors, in their stored dtype.
    """
    state: dict[str, torch.Tensor] = {}
    for file in find_weight_files(path):
        if file.suffix == ".safetensors":
            state.update(_read_safetensors(file, prefixes, exclude_prefixes))
        else:
            state.update(_read_torch(file, prefixes, exclude_prefixes))
    return state
