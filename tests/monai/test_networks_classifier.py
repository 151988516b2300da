import pytest
import torch
from vitp_monai_helpers import TINY

from vitp_monai.networks import VitpClassifier


@pytest.mark.parametrize(
    ("spatial_dims", "size", "patch"),
    [(2, (28, 28), None), (3, (28, 28, 28), 8), (3, (13, 30, 9), 8)],
)
def test_classifier_logits_for_odd_sizes(spatial_dims: int, size: tuple, patch: int | None) -> None:
    net = VitpClassifier(
        1, 3, img_size=32, spatial_dims=spatial_dims, patch_size=patch, backbone_kwargs=TINY
    )
    assert net(torch.randn(2, 1, *size)).shape == (2, 3)


def test_classifier_avg_pool_and_token_pool_without_class_token() -> None:
    net = VitpClassifier(3, 2, img_size=32, pool="avg", backbone_kwargs=TINY)
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 2)
    with pytest.raises(ValueError, match="class token"):
        VitpClassifier(
            3, 2, img_size=32, backbone_kwargs={**TINY, "class_token": False, "global_pool": "avg"}
        )
