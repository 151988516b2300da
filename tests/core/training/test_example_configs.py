"""The shipped InternVL2.5-1B pretraining configs: each names what it reproduces, the
official-release one has the release's settings, and the paper one differs from it only
where the paper's wording does (VRL on every sample)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import yaml

from vitp_core.training.module import ViTPPretrainModule

ROOT = Path(__file__).resolve().parents[3]
PRETRAIN = ROOT / "examples" / "pretrain"
OFFICIAL = ("vitp_internvl2_5_1b_rs_official.yaml", "vitp_internvl2_5_1b_med_official.yaml")
PAPER = "vitp_internvl2_5_1b_rs.yaml"


def _load(name: str) -> dict:
    return yaml.safe_load((PRETRAIN / name).read_text())


@pytest.mark.parametrize("name", [*OFFICIAL, PAPER])
def test_model_keys_are_module_arguments(name: str) -> None:
    arguments = set(inspect.signature(ViTPPretrainModule.__init__).parameters)
    unknown = set(_load(name)["model"]) - arguments
    assert not unknown, f"{name}: {sorted(unknown)} are not ViTPPretrainModule arguments"


@pytest.mark.parametrize("name", OFFICIAL)
def test_official_configs_have_the_release_settings(name: str) -> None:
    assert "REPRODUCES THE OFFICIAL RELEASE" in (PRETRAIN / name).read_text()
    config = _load(name)
    model, trainer = config["model"], config["trainer"]
    release = {
        "lr": 2.0e-5,
        "warmup_ratio": 0.2,
        "weight_decay": 0.01,
        "optimizer_recipe": "official",
        "vrl_ratio": 0.75,
        "vrl_apply_prob": 0.25,  # --TMAug_prob 0.75: VRL on 25% of the steps
        "drop_path_rate": 0.1,
        "img_size": 448,
        "max_tiles": 6,
        "use_thumbnail": True,
        "dynamic_tiling": True,
        "max_seq_len": 4096,
    }
    assert {k: model[k] for k in release} == release
    assert trainer["max_steps"] == 8000
    batch = (
        trainer["num_nodes"]
        * trainer["devices"]
        * trainer["accumulate_grad_batches"]
        * config["data"]["batch_size"]
    )
    assert batch == 128


def test_paper_config_differs_from_the_release_only_in_vrl_on_every_sample() -> None:
    assert "REPRODUCES THE PAPER'S WORDING" in (PRETRAIN / PAPER).read_text()
    paper, official = _load(PAPER), _load(OFFICIAL[0])
    assert paper["model"] == official["model"] | {"vrl_apply_prob": 1.0}
    assert paper["trainer"] == official["trainer"]
    assert paper["data"] == official["data"]


@pytest.mark.parametrize("mixture", ["rs_mix.json", "med_mix.json"])
def test_shipped_mixtures_set_the_official_per_source_keys(mixture: str) -> None:
    sources = json.loads((ROOT / "examples" / "corpora" / mixture).read_text())
    for name, source in sources.items():
        assert source["max_dynamic_patch"] == 12, name
        assert isinstance(source["data_augment"], bool), name


@pytest.mark.parametrize("name", ["stage1_align.yaml", "stage2_domain.yaml"])
def test_stage_configs_use_real_settings(name: str) -> None:
    from vitp_core.training.reliance import ImageRelianceMonitor

    config = _load(name)
    arguments = set(inspect.signature(ViTPPretrainModule.__init__).parameters)
    assert not set(config["model"]) - arguments
    monitor = set(inspect.signature(ImageRelianceMonitor.__init__).parameters)
    assert not set(config["reliance"]) - monitor


def test_stage_two_continues_from_stage_one() -> None:
    one, two = _load("stage1_align.yaml"), _load("stage2_domain.yaml")
    assert two["model"]["init_from"] == one["run_dir"]
    assert one["model"]["freeze_vit"] and one["model"]["vrl_ratio"] == 0.0
    assert not two["model"]["freeze_vit"] and two["model"]["vrl_ratio"] == 0.75
