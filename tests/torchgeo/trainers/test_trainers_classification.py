from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torchgeo.trainers import ClassificationTask
from vitp_torchgeo_helpers import fast_dev_args, run_torchgeo_cli, write_rsscn7

from vitp_core.backbone import create_backbone
from vitp_torchgeo.trainers import ViTPClassificationTask
from vitp_torchgeo.weights import ViTPIntern300M14_Weights


@pytest.fixture
def rsscn7(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # runs/ and lightning_logs/ land here
    return write_rsscn7(tmp_path / "rsscn7", per_class=20)


def test_example_yaml_fits_and_tests(rsscn7: Path, tiny_export: Path, capsys) -> None:
    data = ["--data.root", str(rsscn7), "--data.batch_size", "4"]
    weights = ["--model.init_args.weights", str(tiny_export)]
    run_torchgeo_cli(["fit", *fast_dev_args("rsscn7_vitp.yaml", *data, *weights)])
    run_torchgeo_cli(["test", *fast_dev_args("rsscn7_vitp.yaml", *data, *weights)])
    assert "test_OverallAccuracy" in capsys.readouterr().out


def test_linear_probe_trains_the_head_only(tiny_export: Path) -> None:
    task = ViTPClassificationTask(weights=str(tiny_export), num_classes=7, freeze_backbone=True)
    trainable = {name for name, p in task.model.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"}
    assert task.weights_result is not None and task.weights_result.missing_keys == [
        "head.weight",
        "head.bias",
    ]


def test_avg_pooling_keeps_the_pretrained_final_norm(tiny_export: Path) -> None:
    task = ViTPClassificationTask(weights=str(tiny_export), num_classes=7, global_pool="avg")
    result = task.weights_result
    assert result is not None
    assert result.missing_keys == ["head.weight", "head.bias"]
    assert not result.unexpected_keys
    assert isinstance(task.model.fc_norm, torch.nn.Identity)
    explicit = ViTPClassificationTask(
        num_classes=7, global_pool="avg", backbone_kwargs={"fc_norm": True}
    )
    assert not isinstance(explicit.model.fc_norm, torch.nn.Identity)


def test_checkpoint_hparams_rebuild_the_export_architecture(tiny_export: Path) -> None:
    task = ViTPClassificationTask(weights=str(tiny_export), num_classes=7, in_channels=4)
    assert task.hparams["backbone"] == "vitp_tiny_patch16_224"
    assert task.hparams["backbone_kwargs"]["depth"] == 2
    rebuilt = ViTPClassificationTask(**{k: v for k, v in task.hparams.items()})
    rebuilt.load_state_dict(task.state_dict())
    x = torch.randn(1, 4, 32, 32)
    assert torch.allclose(rebuilt.eval()(x), task.eval()(x))


def test_torchgeo_classification_task_with_vitp_name_and_weights_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TorchGeo's own task: timm name + a registered weights name (URL pointed at a file)."""
    torch.manual_seed(0)
    state = create_backbone("vitp_tiny_patch16_224").state_dict()
    path = tmp_path / "weights.safetensors"
    save_file(state, str(path))
    member = ViTPIntern300M14_Weights.VITP_VIT_L_300M_RS
    monkeypatch.setattr(member.value, "url", path.as_uri())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    task = ClassificationTask(model="vitp_tiny_patch16_224", weights=str(member), num_classes=7)
    assert torch.equal(task.model.blocks[0].attn.qkv.weight, state["blocks.0.attn.qkv.weight"])


def test_torchgeo_classification_yaml(rsscn7: Path) -> None:
    overrides = [
        "--data.root", str(rsscn7), "--data.batch_size", "2", "--data.image_size", "32",
        "--model.init_args.model", "vitp_tiny_patch16_224",
        "--model.init_args.weights", "null",
    ]  # fmt: skip
    run_torchgeo_cli(["fit", *fast_dev_args("rsscn7_torchgeo_classification.yaml", *overrides)])
