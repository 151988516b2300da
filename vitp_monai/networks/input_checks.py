"""Checks of the input tensors of the vitp_monai networks, each failing with one sentence.

The sentence names the argument, the value received and what is expected, instead of an
error from deep inside a convolution, ``zip`` or the metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["check_input_layout", "check_network_input"]

_SPATIAL_NAMES = {2: "H, W", 3: "H, W, D"}


def check_input_layout(
    x: torch.Tensor, *, network: str, in_channels: int, spatial_dims: int, name: str = "x"
) -> None:
    """Check type, rank, channels and dtype (cheap: no pass over the values).

    Args:
        x: The input, expected ``(B, in_channels, *spatial)``.
        network: Class name used in the message.
        in_channels: Channels the network takes.
        spatial_dims: 2 or 3.
        name: Argument name used in the message.

    Raises:
        TypeError: When ``x`` is not a floating-point tensor.
        ValueError: When its rank or channel count is wrong.
    """
    expected = f"(B, {in_channels}, {_SPATIAL_NAMES[spatial_dims]})"
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{network}: {name} must be a torch.Tensor of shape {expected}, got {type(x).__name__}."
        )
    if x.ndim != spatial_dims + 2:
        raise ValueError(
            f"{network}: {name} has shape {tuple(x.shape)} ({x.ndim} dims) but this "
            f"{spatial_dims}D network takes {expected} ({spatial_dims + 2} dims)."
        )
    if x.shape[1] != in_channels:
        raise ValueError(
            f"{network}: {name} has {x.shape[1]} channel(s) (shape {tuple(x.shape)}) but the "
            f"network was built with in_channels={in_channels}, shape {expected}."
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{network}: {name} has dtype {x.dtype} but the network takes float inputs: "
            "convert it (e.g. x.float() after intensity scaling)."
        )


def check_network_input(
    x: torch.Tensor,
    *,
    network: str,
    in_channels: int,
    spatial_dims: int,
    min_size: Sequence[int],
    name: str = "x",
) -> None:
    """Check an input fully: layout, least spatial size and finite values.

    Args:
        x: The input, expected ``(B, in_channels, *spatial)``.
        network: Class name used in the message.
        in_channels: Channels the network takes.
        spatial_dims: 2 or 3.
        min_size: Least size per spatial axis (pixels/voxels): smaller inputs would be
            mostly zero padding.
        name: Argument name used in the message.

    Raises:
        TypeError: When ``x`` is not a floating-point tensor.
        ValueError: Wrong rank or channels, too small, or NaN/Inf values.
    """
    check_input_layout(
        x, network=network, in_channels=in_channels, spatial_dims=spatial_dims, name=name
    )
    spatial = tuple(int(s) for s in x.shape[2:])
    least = tuple(int(m) for m in min_size)
    if any(s < m for s, m in zip(spatial, least, strict=True)):
        wanted = f"{least[0]} per axis" if len(set(least)) == 1 else f"{least}"
        raise ValueError(
            f"{network}: {name} has spatial size {spatial} but needs at least {wanted}, or it "
            "would be mostly zero padding: pad or resample it first (e.g. "
            f"monai.transforms.SpatialPad(spatial_size={list(least)}))."
        )
    if torch.compiler.is_compiling():
        return  # a data-dependent check would break the graph
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        raise ValueError(
            f"{network}: {name} holds {int((~finite).sum())} NaN/Inf value(s) (shape "
            f"{tuple(x.shape)}); the network needs finite inputs: check the image files and "
            "the intensity transforms."
        )
