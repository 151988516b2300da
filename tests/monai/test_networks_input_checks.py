"""Bad inputs to the MONAI networks: one sentence naming argument, value and expectation."""

import pytest
import torch
from vitp_monai_helpers import TINY

from vitp_monai.networks import VitpClassifier, VitpEncoder, VitpUNETR


@pytest.fixture(scope="module")
def unetr() -> VitpUNETR:
    return VitpUNETR(1, 2, img_size=32, spatial_dims=3, feature_size=4, backbone_kwargs=TINY)


@pytest.fixture(scope="module")
def classifier() -> VitpClassifier:
    return VitpClassifier(3, 2, img_size=32, backbone_kwargs=TINY)


def _one_sentence(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and text.endswith(".")
    return text


def test_wrong_rank_names_the_expected_shape(unetr, classifier) -> None:
    with pytest.raises(
        ValueError, match=r"x has shape \(1, 1, 32, 32\) .* \(B, 1, H, W, D\)"
    ) as err:
        unetr(torch.zeros(1, 1, 32, 32))
    assert "zip()" not in _one_sentence(err)
    with pytest.raises(ValueError, match=r"x has shape \(3, 32, 32\) .* \(B, 3, H, W\)"):
        classifier(torch.zeros(3, 32, 32))


def test_wrong_channel_count(unetr, classifier) -> None:
    with pytest.raises(ValueError, match=r"x has 3 channel\(s\) .* in_channels=1"):
        unetr(torch.zeros(1, 3, 16, 16, 16))
    with pytest.raises(ValueError, match=r"in_channels=3"):
        classifier(torch.zeros(1, 1, 32, 32))


def test_non_finite_inputs(unetr, classifier) -> None:
    x = torch.zeros(1, 1, 16, 16, 16)
    x[0, 0, 0, 0, :3] = float("nan")
    with pytest.raises(ValueError, match=r"x holds 3 NaN/Inf value\(s\)") as err:
        unetr(x)
    _one_sentence(err)
    y = torch.zeros(2, 3, 32, 32)
    y[1, 2, 5, 5] = float("inf")
    with pytest.raises(ValueError, match=r"x holds 1 NaN/Inf"):
        classifier(y)


def test_too_small_inputs_are_refused_not_silently_padded(unetr, classifier) -> None:
    with pytest.raises(ValueError, match=r"x has spatial size \(17, 20, 9\) .* at least 16") as err:
        unetr(torch.zeros(1, 1, 17, 20, 9))
    assert "SpatialPad" in _one_sentence(err)
    with pytest.raises(ValueError, match=r"\(12, 40\) .* at least 16"):
        classifier(torch.zeros(1, 3, 12, 40))
    assert classifier(torch.zeros(1, 3, 20, 40)).shape == (1, 2)  # padded up to 32: fine


def test_integer_inputs_and_encoder_checks() -> None:
    encoder = VitpEncoder(in_channels=1, img_size=32, backbone_kwargs=TINY)
    with pytest.raises(ValueError, match=r"x has 2 channel\(s\)"):
        encoder(torch.zeros(1, 2, 32, 32))
    with pytest.raises(TypeError, match=r"x has dtype torch\.uint8 .* float"):
        VitpClassifier(1, 2, img_size=32, backbone_kwargs=TINY)(
            torch.zeros(1, 1, 32, 32, dtype=torch.uint8)
        )
