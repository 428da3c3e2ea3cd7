"""RunConfig: defaults, JSON, validation that names the field and the fix, from_params, and bad
input refused before anything is written."""
import json

import pytest

from gan_helpers import RunConfig


def test_defaults_are_the_seed_baseline():
    cfg = RunConfig()
    assert (cfg.batch_size, cfg.epochs, cfg.noise_dim, cfg.lr_g, cfg.lr_d) == (256, 25, 100, 2e-4, 2e-4)
    assert cfg.betas_g == cfg.betas_d == (0.5, 0.999)  # the DCGAN paper's: the seeds' collapsed
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


# ---- bad input, answered before any file is written ------------------------------------------
BAD_CONFIGS = [
    # wrong type
    (dict(batch_size="64"), "batch_size"), (dict(epochs=2.5), "epochs"),
    (dict(noise_dim=None), "noise_dim"), (dict(lr_g="1e-4"), "lr_g"), (dict(lr_d=[1e-4]), "lr_d"),
    (dict(dataset=1), "dataset"), (dict(preset=None), "preset"), (dict(seed=1.5), "seed"),
    (dict(label_smoothing="0.9"), "label_smoothing"), (dict(instance_noise=None), "instance_noise"),
    (dict(betas_g=0.5), "betas_g"), (dict(g_channels=64), "g_channels"), (dict(g_kernel=4.0), "g_kernel"),
    (dict(g_refine="1"), "g_refine"), (dict(d_dropout="0.3"), "d_dropout"), (dict(compile="yes"), "compile"),
    (dict(channels_last=1), "channels_last"), (dict(n_critic=5.0), "n_critic"),
    (dict(gp_lambda="10"), "gp_lambda"), (dict(image_size="28"), "image_size"),
    (dict(wandb_project=None), "wandb_project"), (dict(max_images=-1), "max_images"),
    # out of range
    (dict(lr_g=0.0), "lr_g"), (dict(lr_d=-1e-4), "lr_d"), (dict(lr_d=1.5), "lr_d"),
    (dict(batch_size=0), "batch_size"), (dict(batch_size=-8), "batch_size"), (dict(epochs=0), "epochs"),
    (dict(noise_dim=0), "noise_dim"), (dict(label_smoothing=0.0), "label_smoothing"),
    (dict(label_smoothing=1.1), "label_smoothing"), (dict(instance_noise=-0.1), "instance_noise"),
    (dict(instance_noise=1.0), "instance_noise"), (dict(betas_d=(0.5, 1.0)), "betas_d"),
    (dict(gp_lambda=-1.0), "gp_lambda"), (dict(clip_value=0.0), "clip_value"),
    (dict(image_size=30), "image_size"), (dict(channels=2), "channels"), (dict(d_dropout=1.0), "d_dropout"),
    (dict(snapshot_every=0), "snapshot_every"), (dict(device="gpu"), "device"),
    # unknown names, with the valid names or a close match
    (dict(optimizer="adamw"), "did you mean 'adam'"), (dict(loss="wgan_gp"), "did you mean 'wgan-gp'"),
    (dict(g_norm="batchnorm"), "did you mean 'batch'"), (dict(preset="dcgan"), "did you mean 'dcgan64'"),
    (dict(dataset="mnsit"), "did you mean 'mnist'"), (dict(precision="fp8"), "fp32"),
    (dict(upsample="pixelshuffle"), "upsample"), (dict(wandb_mode="on"), "wandb_mode"),
    # impossible shapes, and BatchNorm in a critic
    (dict(g_strides=[2, 2, 2]), "image_size"), (dict(g_kernel=1), "generator layer"),
    (dict(g_strides=[1, 2]), "g_strides has 2 entries"), (dict(d_kernel=1), "discriminator layer 1"),
    (dict(d_strides=[2, 2, 2]), "d_strides has 3 entries"),
    (dict(preset="dcgan64"), "not a multiple of 16"),
    (dict(loss="wgan-gp", preset="dcgan64", image_size=64), "d_norm='instance'"),
    # data
    (dict(dataset="folder"), "data_path"),
    # not finite: NaN passes every range check (issue 14, point 6)
    (dict(lr_g=float("nan")), "lr_g"), (dict(lr_d=float("inf")), "lr_d"),
    (dict(gp_lambda=float("nan")), "gp_lambda"), (dict(clip_value=float("nan")), "clip_value"),
    (dict(leaky_slope=float("nan")), "leaky_slope"), (dict(d_dropout=float("nan")), "d_dropout"),
    (dict(label_smoothing=float("nan")), "label_smoothing"),
    (dict(optimizer="sgd", lr_d=float("nan")), "lr_d"), (dict(gp_lambda=float("inf")), "gp_lambda"),
    (dict(betas_g=(float("nan"), 0.999)), "betas_g"),
    # fractions in whole-number lists (point 7)
    (dict(g_strides=[1.9, 2, 2]), "g_strides"), (dict(d_channels=[64, 127.5]), "d_channels"),
    # torch would crash (point 8)
    (dict(batch_size=1), "g_norm='batch'"),
    (dict(batch_size=1, preset="dcgan64", image_size=64), "g_norm and d_norm"),
    (dict(noise_dim=10**9), "noise_dim"), (dict(seed=2**64), "seed"),
    (dict(g_kernel=0, upsample="nearest"), "g_kernel"),
]


@pytest.mark.parametrize("change, words", BAD_CONFIGS, ids=[str(c) for c, _ in BAD_CONFIGS])
def test_bad_config_is_refused_before_anything_is_written(change, words, tmp_path):
    params = dict(experiment="x", output_dir=str(tmp_path), **change)
    with pytest.raises(ValueError) as err:
        RunConfig.from_params(params, quiet=True)
    assert words in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_a_budget_in_steps_gives_a_small_folder_as_many_updates_as_a_large_one():
    """Issue 22: 100 epochs of 238 images at batch 64 were 300 G steps. steps=2000 becomes
    667 epochs there (3 full batches an epoch) and 182 for 733 images; WGAN's 5 critic steps
    per G step are counted; 10 snapshots; steps=0 keeps the epochs; quick mode keeps 2 epochs."""
    cfg = RunConfig(dataset="folder", data_path="x", image_size=64, channels=3, preset="dcgan64",
                    batch_size=64, epochs=100, steps=2000)
    small, large = cfg.fit_steps(238, quiet=True), cfg.fit_steps(733, quiet=True)
    assert (small.epochs, small.snapshot_every) == (667, 66) and large.epochs == 182
    assert small.epochs * (238 // 64) >= 2000 > (small.epochs - 1) * (238 // 64)
    wgan = cfg.replace(preset="wgan_gp64", loss="wgan-gp").fit_steps(733, quiet=True)
    assert wgan.epochs == 1000  # 11 batches an epoch = 2 G steps
    assert cfg.replace(steps=0).fit_steps(238) == cfg.replace(steps=0)
    assert cfg.quick(quiet=True).fit_steps(238).epochs == 2
    with pytest.raises(ValueError, match="steps=-1"):
        cfg.replace(steps=-1).validate()
