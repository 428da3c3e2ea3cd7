"""Describing networks: summaries that add up, FLOPs by hand, overlap patterns."""
import pytest
import torch
from torch import nn

from gan_helpers import RunConfig, build_models, describe_models
from gan_helpers.config import PRESETS
from gan_helpers.describe import overlap_pattern, summary


@pytest.mark.parametrize("kernel, stride, upsample, uneven", [
    (5, 2, "transposed", True), (3, 2, "transposed", True), (5, 4, "transposed", True),
    (4, 2, "transposed", False), (8, 2, "transposed", False), (2, 2, "transposed", False),
    (5, 2, "nearest", False), (3, 2, "bilinear", False),
])
def test_overlap_is_uneven_exactly_when_the_stride_does_not_divide_the_kernel(kernel, stride,
                                                                             upsample, uneven):
    pattern = overlap_pattern(kernel, stride, upsample)
    assert pattern.numel() > 0
    assert bool(pattern.max() > pattern.min()) == uneven


def test_kernel_5_stride_2_paints_4_6_9():
    pattern = overlap_pattern(5, 2)
    assert set(pattern.unique().tolist()) == {4.0, 6.0, 9.0}
    # period 2 in both directions: a checkerboard
    assert torch.equal(pattern[:-2, :-2], pattern[2:, 2:])


NATIVE = {"tf_tutorial": (28, 1), "deeper_3x3": (28, 1), "kernel8_stride1_2": (28, 1), "unrolled_gan": (28, 3),
          "dcgan64": (64, 3), "wgan_gp64": (64, 3)}


def cfg_for(preset, image_size=None, channels=None, **kw):
    size, ch = NATIVE[preset]
    loss = "wgan-gp" if preset == "wgan_gp64" else "bce"
    return RunConfig(preset=preset, image_size=image_size or size, channels=channels or ch,
                     loss=loss, **kw).validate()


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# ---- summary ------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", list(PRESETS))
def test_summary_adds_up(preset):
    cfg = cfg_for(preset)
    g, d = build_models(cfg)
    g_rows = summary(g, (cfg.noise_dim,))
    d_rows = summary(d, (cfg.channels, cfg.image_size, cfg.image_size))
    assert sum(r["params"] for r in g_rows) == n_params(g)
    assert sum(r["params"] for r in d_rows) == n_params(d)
    assert g_rows[-1]["output"] == (cfg.channels, cfg.image_size, cfg.image_size)
    text = describe_models(cfg, g, d)
    assert f"{n_params(g):,}" in text and f"{n_params(d):,}" in text


def test_summary_flops_by_hand():
    """Multiply-adds x 2: a conv counts per output pixel, a transposed conv per input pixel."""
    g, d = build_models(cfg_for("tf_tutorial"))
    rows = {r["name"]: r for r in summary(g, (100,))}
    convt = [r for r in rows.values() if r["layer"] == "ConvTranspose2d"]
    assert convt[0]["flops"] == 2 * 128 * 7 * 7 * 64 * 5 * 5   # 7x7x128 in -> 14x14x64
    assert convt[1]["flops"] == 2 * 64 * 14 * 14 * 1 * 5 * 5   # 14x14x64 in -> 28x28x1
    conv = [r for r in rows.values() if r["layer"] == "Conv2d"][0]
    assert conv["flops"] == 2 * 256 * 5 * 5 * 128 * 7 * 7
    assert rows["net.0"]["flops"] == 2 * 100 * 12544
    # the same count as an explicit conv: a transposed conv is a conv's backward pass
    x = torch.randn(1, 128, 7, 7)
    layer = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)][0]
    assert layer(x).shape == (1, 64, 14, 14)


def test_a_packed_discriminator_is_described_too():
    """PacGAN's D takes its samples in groups of `pack`: the summary feeds it one group."""
    cfg = RunConfig(pack=2).validate()
    G, D = build_models(cfg)
    text = describe_models(cfg, G, D)
    assert "Conv2d" in text and f"{sum(p.numel() for p in D.parameters()):,}" in text
