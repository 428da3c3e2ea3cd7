import json

import pytest

from gan_helpers import RunConfig


def test_defaults_are_the_seed_baseline():
    cfg = RunConfig()
    assert (cfg.batch_size, cfg.epochs, cfg.noise_dim, cfg.lr_g, cfg.lr_d) == (256, 25, 100, 1e-4, 1e-4)
    assert cfg.preset == "tf_tutorial" and cfg.loss == "bce"
    assert cfg.validate() is cfg


def test_json_round_trip(tmp_path):
    cfg = RunConfig(lr_g=2e-4, betas_g=(0.5, 0.999), label_smoothing=0.9, g_channels=[128, 64, 32])
    path = tmp_path / "hyperparameters.json"
    cfg.to_json(path)
    assert json.loads(path.read_text())["betas_g"] == [0.5, 0.999]
    assert RunConfig.from_json(path) == cfg


@pytest.mark.parametrize("change, words", [
    (dict(batch_size=0), ["batch_size=0", ">= 1"]),
    (dict(lr_d=-1e-4), ["lr_d", "(0, 1)"]),
    (dict(label_smoothing=1.5), ["label_smoothing", "(0, 1]"]),
    (dict(instance_noise=1.0), ["instance_noise", "[0, 1)"]),
    (dict(loss="wgangp"), ["loss='wgangp'", "did you mean 'wgan-gp'"]),
    (dict(optimizer="adamw"), ["optimizer", "did you mean 'adam'"]),
    (dict(epochs="10"), ["epochs", "whole number"]),
    (dict(betas_g=(0.5,)), ["betas_g", "two numbers"]),
])
def test_validation_names_the_field_and_the_fix(change, words):
    with pytest.raises(ValueError) as err:
        RunConfig(**change).validate()
    for w in words:
        assert w in str(err.value)


def test_from_params_picks_fields_and_applies_quick_mode(monkeypatch):
    monkeypatch.setenv("GAN_HELPERS_QUICK", "1")
    cfg = RunConfig.from_params({"epochs": 25, "batch_size": 256, "experiment": "x", "lr_g": 2e-4})
    assert (cfg.epochs, cfg.batch_size, cfg.max_images, cfg.lr_g) == (2, 64, 512, 2e-4)
    monkeypatch.setenv("GAN_HELPERS_QUICK", "0")
    assert RunConfig.from_params({"epochs": 25}).epochs == 25
