"""Strict config loading: packaged configs, unknown keys and wrong types named, benchmark overrides."""
from __future__ import annotations

from pathlib import Path

import pytest

from siamcan.config import Config, ModelConfig, TrackerConfig, config_from_dict, config_to_dict, load_config
from siamcan.errors import SiamcanError
from siamcan.zoo import available_models, resolve_config


def test_packaged_configs_load():
    assert {"siamcan-lite", "siamcan-r50"} <= set(available_models())
    r50 = resolve_config("siamcan-r50")
    assert r50.model == ModelConfig()  # the paper's model = the defaults
    assert r50.model.eca_kernel == 5 and not r50.model.spatial_attention_bn
    lite = resolve_config("siamcan-lite")
    assert lite.model.backbone == "efficientnet_lite0" and lite.model.channels == 128
    # tuned for the shipped weights (siamcan tune, see the config and the model card)
    assert lite.tracker == TrackerConfig(window_influence=0.4840, penalty_k=0.6199, lr=0.1118)


def test_benchmark_overrides_case_insensitive():
    cfg = resolve_config("siamcan-r50")
    vot = cfg.tracker_for("vot2018")
    assert (vot.window_influence, vot.penalty_k, vot.lr) == (0.4633, 0.0851, 0.4442)
    otb = cfg.tracker_for("OTB100")
    assert (otb.window_influence, otb.penalty_k, otb.lr) == (0.3851, 0.0205, 0.4731)
    assert cfg.tracker_for(None) == cfg.tracker == cfg.tracker_for("UAV123")


def test_round_trip_through_plain_data():
    for name in ("siamcan-lite", "siamcan-r50"):
        cfg = resolve_config(name)
        assert config_from_dict(config_to_dict(cfg)) == cfg


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, key", [
    ("nmae: x\n", "'nmae'"),
    ("model:\n  backbon: resnet50\n", "'model.backbon'"),
    ("train:\n  datasets:\n    - {name: a, rooot: b}\n", "'train.datasets[0].rooot'"),
    ("benchmarks:\n  VOT2018: {window_infl: 0.4}\n", "'benchmarks.VOT2018.window_infl'"),
])
def test_unknown_key_is_named(tmp_path, text, key):
    with pytest.raises(SiamcanError, match="unknown config key " + key.replace("[", r"\[").replace("]", r"\]")):
        load_config(_write(tmp_path, text))


@pytest.mark.parametrize("text, key", [
    ("model:\n  cross_attention: 1\n", "model.cross_attention"),
    ("model:\n  channels: 12.5\n", "model.channels"),
    ("model:\n  eca_kernel: '5'\n", "model.eca_kernel"),
    ("tracker:\n  penalty_k: fast\n", "tracker.penalty_k"),
    ("train:\n  epochs: true\n", "train.epochs"),
    ("train:\n  train_layers: layer2.\n", "train.train_layers"),
    ("model: [1, 2]\n", "model"),
    ("model:\n  eca_kernel: 4\n", "model.eca_kernel"),
    ("model:\n  backbone: vgg\n", "model.backbone"),
    ("tracker:\n  window_influence: 1.5\n", "tracker.window_influence"),
    ("train:\n  neg_same_prob: 2\n", "train.neg_same_prob"),
])
def test_wrong_type_or_value_names_the_key(tmp_path, text, key):
    with pytest.raises(SiamcanError, match=f"'{key}'"):
        load_config(_write(tmp_path, text))


def test_ints_accepted_for_floats(tmp_path):
    cfg = load_config(_write(tmp_path, "tracker:\n  lr: 1\n  penalty_k: 0\n"))
    assert cfg.tracker.lr == 1.0 and isinstance(cfg.tracker.lr, float)


def test_bad_files(tmp_path):
    with pytest.raises(SiamcanError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(SiamcanError, match="empty"):
        load_config(_write(tmp_path, ""))
    with pytest.raises(SiamcanError, match="not valid YAML"):
        load_config(_write(tmp_path, "model: [1, 2\n"))
    with pytest.raises(SiamcanError, match="mapping"):
        load_config(_write(tmp_path, "- 1\n- 2\n"))
    with pytest.raises(SiamcanError, match="unknown model"):
        resolve_config("siamcan-r51")


def test_config_objects_are_frozen():
    with pytest.raises(Exception):
        Config().name = "x"  # type: ignore[misc]
