"""The model builder: presets build at their sizes, match their sources layer for layer, bad
shapes explain themselves, and the summary adds up."""
import re

import pytest
import torch
from torch import nn

import gan_helpers as gh
from gan_helpers import RunConfig, build_models
from gan_helpers.config import PRESETS


NATIVE = {"tf_tutorial": (28, 1), "deeper_3x3": (28, 1), "kernel8_stride1_2": (28, 1), "unrolled_gan": (28, 3),
          "dcgan64": (64, 3), "wgan_gp64": (64, 3)}


def cfg_for(preset, image_size=None, channels=None, **kw):
    size, ch = NATIVE[preset]
    loss = "wgan-gp" if preset == "wgan_gp64" else "bce"
    return RunConfig(preset=preset, image_size=image_size or size, channels=channels or ch,
                     loss=loss, **kw).validate()


def layers(model):
    """The printed leaf layers, without the parameter-free Reshape/Flatten glue; torch >= 2.6
    adds 'bias=True' to norm layers' printout, which older printouts lack."""
    return [repr(m).replace(", bias=True", "") for m in model.modules()
            if not list(m.children()) and type(m).__name__ not in ("Reshape", "Flatten")]


def check_output(cfg, g, d, n=3):
    z = torch.randn(n, cfg.noise_dim)
    with torch.no_grad():
        x = g.eval()(z)
        score = d.eval()(x)
    assert x.shape == (n, cfg.channels, cfg.image_size, cfg.image_size)
    assert x.min() >= -1 and x.max() <= 1  # tanh: the data's range
    assert score.shape == (n,) and torch.isfinite(score).all()


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_builds_at_its_size(preset):
    cfg = cfg_for(preset)
    check_output(cfg, *build_models(cfg))


# The other sizes/channels where the preset's strides fit (28 needs a total upsampling of 4 or 7).
OTHER_SIZES = [(p, s, c) for p in PRESETS for s in (28, 32, 64) for c in (1, 3)
               if (s, c) != NATIVE[p] and not (p in ("dcgan64", "wgan_gp64") and s == 28)]


@pytest.mark.parametrize("preset, size, channels", OTHER_SIZES)
def test_presets_build_at_other_sizes_and_channels(preset, size, channels):
    cfg = cfg_for(preset, size, channels)
    check_output(cfg, *build_models(cfg), n=2)


@pytest.mark.parametrize("overrides", [
    dict(upsample="nearest"), dict(upsample="bilinear"), dict(g_refine=2),
    dict(g_norm="layer", d_norm="layer"), dict(g_norm="instance", d_norm="instance"),
    dict(g_norm="none", d_norm="none"), dict(g_activation="relu", d_activation="relu"),
    dict(leaky_slope=0.1, d_dropout=0.0), dict(d_dense=[64, 32]), dict(d_head="conv"),
    dict(g_kernel=[3, 4, 5], d_kernel=[4, 3]), dict(g_kernel="4,4,4"), dict(g_input="convt"),
    dict(g_channels=[128, 64, 32, 16], g_strides=[1, 2, 1, 2], d_strides=[2, 1], d_channels=[32, 64]),
])
def test_preset_plus_overrides_is_one_call(overrides):
    cfg = RunConfig(**overrides).validate()
    g, d = build_models(cfg)
    check_output(cfg, g, d)


def test_the_overrides_reach_the_layers():
    g, d = build_models(RunConfig(upsample="nearest", g_refine=1, d_dense=[32]).validate())
    kinds = [type(m).__name__ for m in g.modules()]
    assert "ConvTranspose2d" not in kinds and kinds.count("Upsample") == 2
    assert kinds.count("Conv2d") == 3 + 1  # 3 layers, 1 refine after the one hidden upsampling
    assert [m.out_features for m in d.modules() if isinstance(m, nn.Linear)] == [32, 1]
    _, d = build_models(RunConfig(preset="wgan_gp64", image_size=64, channels=3, loss="wgan-gp",
                                  d_norm="layer").validate())
    assert any(isinstance(m, nn.GroupNorm) for m in d.modules())


# ---- exact layer lists against the seeds ------------------------------------------------------
SEED_004 = """
      (0): ConvTranspose2d(100, 1024, kernel_size=(4, 4), stride=(1, 1), bias=False)
      (1): BatchNorm2d(1024, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
      (2): ReLU()
      (0): ConvTranspose2d(1024, 512, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
      (1): BatchNorm2d(512, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
      (2): ReLU()
      (0): ConvTranspose2d(512, 256, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
      (1): BatchNorm2d(256, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
      (2): ReLU()
      (0): ConvTranspose2d(256, 128, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
      (1): BatchNorm2d(128, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
      (2): ReLU()
    (4): ConvTranspose2d(128, 3, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1))
    (5): Tanh()
===
    (0): Conv2d(3, 64, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1))
    (1): LeakyReLU(negative_slope=0.2)
      (0): Conv2d(64, 128, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
      (1): InstanceNorm2d(128, eps=1e-05, momentum=0.1, affine=True, track_running_stats=False)
      (2): LeakyReLU(negative_slope=0.2)
      (0): Conv2d(128, 256, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
      (1): InstanceNorm2d(256, eps=1e-05, momentum=0.1, affine=True, track_running_stats=False)
      (2): LeakyReLU(negative_slope=0.2)
      (0): Conv2d(256, 512, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
      (1): InstanceNorm2d(512, eps=1e-05, momentum=0.1, affine=True, track_running_stats=False)
      (2): LeakyReLU(negative_slope=0.2)
    (5): Conv2d(512, 1, kernel_size=(4, 4), stride=(2, 2))
"""


def test_wgan_gp64_is_seed_004_printout_layer_for_layer():
    g_text, d_text = SEED_004.split("===")
    expected = [[re.sub(r"^\s*\(\d+\): ", "", line) for line in text.strip().splitlines()]
                for text in (g_text, d_text)]
    g, d = build_models(cfg_for("wgan_gp64"))
    assert layers(g) == expected[0]
    assert layers(d) == expected[1]


def convs(model):
    """(kind, out channels, kernel, stride) of every conv / dense layer, in order."""
    out = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            out.append((type(m).__name__, m.out_channels, m.kernel_size[0], m.stride[0]))
        elif isinstance(m, nn.Linear):
            out.append(("Linear", m.out_features))
    return out


# Seed 003's two tables. The TF tutorial's stride-1 Conv2DTranspose(128, 5x5) is built as a
# stride-1 Conv2d (same shape and parameter count; PyTorch cannot pad an even-kernel stride-1
# ConvTranspose2d to "same"). Seed 003's "Output Layer Conv2D(1, 5x5)" of the original is the
# tutorial's stride-2 Conv2DTranspose: 14x14 -> 28x28 needs it.
SEED_003 = {
    "tf_tutorial": (
        [("Linear", 7 * 7 * 256), ("Conv2d", 128, 5, 1), ("ConvTranspose2d", 64, 5, 2),
         ("ConvTranspose2d", 1, 5, 2)],
        [("Conv2d", 64, 5, 2), ("Conv2d", 128, 5, 2), ("Linear", 1)]),
    "deeper_3x3": (
        [("Linear", 7 * 7 * 128), ("ConvTranspose2d", 64, 3, 2), ("Conv2d", 64, 3, 1),
         ("ConvTranspose2d", 32, 3, 2), ("Conv2d", 16, 3, 1), ("Conv2d", 1, 3, 1)],
        [("Conv2d", 32, 3, 2), ("Conv2d", 64, 3, 1), ("Conv2d", 128, 3, 2), ("Conv2d", 256, 3, 1),
         ("Linear", 128), ("Linear", 1)]),
}


@pytest.mark.parametrize("preset", list(SEED_003))
def test_seed_003_tables(preset):
    g, d = build_models(cfg_for(preset))
    assert convs(g) == SEED_003[preset][0]
    assert convs(d) == SEED_003[preset][1]


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_match_the_sources():
    # TF DCGAN tutorial: generator 2,305,472 trainable (BatchNorm's moving stats are buffers
    # here), discriminator 212,865, as its model.summary() prints.
    g, d = build_models(cfg_for("tf_tutorial"))
    assert (n_params(g), n_params(d)) == (2_305_472, 212_865)
    # Seed 003's modified architecture, TF conventions (no bias before a BatchNorm or on G's output)
    g, d = build_models(cfg_for("deeper_3x3"))
    g_expected = (100 * 6272 + 2 * 6272 + 128 * 64 * 9 + 2 * 64 + 64 * 64 * 9 + 2 * 64
                  + 64 * 32 * 9 + 2 * 32 + 32 * 16 * 9 + 2 * 16 + 16 * 9)
    d_expected = (9 * 32 + 32 + 32 * 64 * 9 + 64 + 64 * 128 * 9 + 128 + 128 * 256 * 9 + 256
                  + 12544 * 128 + 128 + 128 + 1)
    assert (n_params(g), n_params(d)) == (g_expected, d_expected)
    # PyTorch DCGAN example (ngf = ndf = 64, no biases): 3,576,704 and 2,765,568
    g, d = build_models(cfg_for("dcgan64"))
    assert (n_params(g), n_params(d)) == (3_576_704, 2_765_568)


# ---- impossible combinations explain themselves --------------------------------------------------
BAD = [
    # kernel 8, stride 2 everywhere at 28x28: the classic; says which strides work
    (dict(preset="kernel8_stride1_2", g_strides=[2, 2, 2]),
     ["generator layer 3", "24x24", "28x28", "g_strides=[1, 2, 2]", "image_size=32"]),
    (dict(g_strides=[2, 2, 2], g_kernel=8), ["generator layer 3", "3.5x3.5", "g_strides=[1, 2, 2]"]),
    (dict(preset="dcgan64"), ["generator layer 4", "16x16", "28x28", "not a multiple of 16",
                              "g_strides=[1, 1, 2, 2]", "image_size=32"]),
    (dict(preset="dcgan64", image_size=28, g_strides=[2, 2, 2, 2]), ["image_size=32"]),
    (dict(g_kernel=1), ["generator layer 2", "kernel 1, stride 2", "14x14", "holes",
                        "g_kernel=4", "upsample='nearest'"]),
    (dict(g_kernel=[5, 5, 1]), ["generator layer 3", "28x28", "holes"]),
    (dict(d_kernel=1), ["discriminator layer 1", "14x14 from 28x28", "d_kernel=4"]),
    (dict(d_channels=[8] * 6, d_strides=[2] * 6, d_kernel=8),
     ["discriminator layer 5", "0x0 from 1x1", "at most 4", "d_strides"]),
    (dict(g_strides=[1, 2]), ["g_strides has 2 entries", "g_channels has 3"]),
    (dict(g_kernel=[3, 3]), ["g_kernel has 2 entries", "3 layers"]),
    (dict(d_strides=[2, 2, 2]), ["d_strides has 3 entries"]),
    (dict(g_channels="a,b"), ["g_channels", "whole numbers"]),
    (dict(d_dense=[0]), ["d_dense", "positive"]),
    (dict(g_refine=-1), ["g_refine", ">= 0"]),
    (dict(upsample="pixelshuffle"), ["upsample", "'nearest'"]),
    (dict(g_norm="batchnorm"), ["did you mean 'batch'"]),
    (dict(preset="wgan_gp64", image_size=64, channels=3, loss="wgan", d_norm="batch"),
     ["d_norm='batch'", "d_norm='instance'"]),
]


@pytest.mark.parametrize("change, words", BAD, ids=[str(c) for c, _ in BAD])
def test_impossible_combinations_say_what_to_change(change, words):
    with pytest.raises(ValueError) as err:
        RunConfig(**change).validate()
    for word in words:
        assert word in str(err.value), (word, str(err.value))


@pytest.mark.parametrize("fix", [dict(g_strides=[1, 2, 2]), dict(image_size=32)])
def test_the_suggested_fix_builds(fix):
    cfg = RunConfig(preset="kernel8_stride1_2", **{"g_strides": [2, 2, 2], **fix}).validate()
    check_output(cfg, *build_models(cfg))


# ---- the latent space ----------------------------------------------------------------------
@pytest.mark.parametrize("spherical", [True, False])
def test_an_interpolation_starts_at_g_of_z0_and_ends_at_g_of_z1(spherical):
    from gan_helpers import interpolate
    from gan_helpers.models import sample
    g, _ = build_models(RunConfig().validate())  # BatchNorm: eval mode makes samples independent
    gen = torch.Generator().manual_seed(7)
    z0, z1 = torch.randn(g.noise_dim, generator=gen), torch.randn(g.noise_dim, generator=gen)
    strip = interpolate(g, steps=10, seed=7, spherical=spherical)
    assert strip.shape == (10, 1, 28, 28) and g.training  # g is left in train mode
    ends = sample(g, torch.stack([z0, z1]))
    assert torch.allclose(strip[0], ends[0], atol=1e-5) and torch.allclose(strip[-1], ends[1], atol=1e-5)
    assert not torch.allclose(strip[4], ends[0], atol=1e-3)  # it does move in between


def test_slerp_stays_on_the_sphere_and_hits_both_ends_exactly():
    from gan_helpers.models import slerp
    z0, z1 = torch.randn(100), torch.randn(100)
    z1 = z1 * z0.norm() / z1.norm()
    path = slerp(z0, z1, torch.linspace(0, 1, 9)[:, None])
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)
    assert torch.allclose(path.norm(dim=1), z0.norm().expand(9), rtol=1e-4)


def test_a_latent_walk_moves_every_sample_by_the_same_direction():
    from gan_helpers.models import latent_walk
    g, _ = build_models(RunConfig().validate())
    walk = latent_walk(g, n=4, alphas=(-1, 0, 1))
    assert walk.shape == (3, 4, 1, 28, 28)
    assert torch.allclose(walk[1], gh_generate(g, 4))  # alpha 0: the plain samples of seed 0


def gh_generate(g, n):
    from gan_helpers import generate
    return generate(g, n, seed=0).cpu()


# ---- issue 11: the TF presets start as the TF tutorial does --------------------------------
def _keras_std(weight):
    """Glorot-uniform's std with Keras's fans. A Conv2DTranspose kernel (k, k, out, in) has
    fan_in = out*k*k, fan_out = in*k*k: with torch's (in, out, k, k) layout that is dim 1 for
    fan_in, as for Conv2d (out, in, k, k) and Linear (out, in)."""
    rf = weight[0, 0].numel() if weight.dim() > 2 else 1
    return (2.0 / (weight.shape[1] * rf + weight.shape[0] * rf)) ** 0.5


@pytest.mark.parametrize("preset", ["tf_tutorial", "deeper_3x3", "kernel8_stride1_2"])
def test_tf_presets_use_keras_glorot_init(preset):
    """Every conv/dense weight of a TF-tutorial port has Glorot-uniform's spread, biases 0."""
    g, d = gh.build_models(gh.RunConfig(preset=preset).validate())
    layers = [m for net in (g, d) for m in net.modules()
              if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    assert layers
    for m in layers:
        expected = _keras_std(m.weight)
        assert abs(float(m.weight.std()) - expected) < 0.1 * expected + 2e-3, m
        limit = (3 ** 0.5) * expected  # uniform on [-limit, limit]
        assert float(m.weight.abs().max()) <= limit + 1e-6
        assert m.bias is None or not m.bias.any()


def test_tf_tutorial_starts_with_tanh_unsaturated():
    """The cause of notebook 01's collapse: with PyTorch's default init the last
    ConvTranspose2d (fan-in counted from its 1 output channel) saturates tanh for 12 % of
    the pixels, D wins at once; with the tutorial's Glorot init almost none are."""
    z = torch.randn(256, 100, generator=torch.Generator().manual_seed(0))

    def saturated(init):
        g, _ = gh.build_models(gh.RunConfig(init=init).validate())
        with torch.no_grad():
            return float((g(z).abs() > 0.99).float().mean())

    assert saturated(None) < 0.001  # the preset's own init
    assert saturated("default") > 0.05


def test_epoch_0_snapshot_uses_the_batch_statistics():
    """Before any step BatchNorm's running averages are 0 and 1: eval-mode samples all look
    alike. The first snapshot normalises with the batch's own statistics, on a copy."""
    g, _ = gh.build_models(gh.RunConfig().validate())
    z = torch.randn(16, 100, generator=torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in g.state_dict().items()}
    first = gh.models.sample(g, z, batch_stats=True)
    assert float(first.std(0).mean()) > 5 * float(gh.models.sample(g, z).std(0).mean())
    assert all(torch.equal(before[k], v) for k, v in g.state_dict().items())  # untouched


# ---- packing (PacGAN) --------------------------------------------------------------------------
def test_packing_puts_each_group_of_samples_side_by_side_as_one_input():
    x = torch.arange(4 * 1 * 2 * 2, dtype=torch.float32).view(4, 1, 2, 2)
    packed = gh.models.pack_samples(x, 2)
    assert packed.shape == (2, 2, 2, 2)
    assert torch.equal(packed[1, 0], x[2, 0]) and torch.equal(packed[1, 1], x[3, 0])
    points = torch.randn(6, 2)
    assert gh.models.pack_samples(points, 3).shape == (2, 6)
    assert gh.models.pack_samples(points, 1) is points
    with pytest.raises(ValueError, match="groups of pack=4"):
        gh.models.pack_samples(points, 4)


@pytest.mark.parametrize("dataset", ["mnist", "ring8"])
def test_a_packed_discriminator_scores_one_group_and_its_first_layer_sees_pack_x_the_input(dataset):
    cfg = RunConfig(dataset=dataset, pack=2, noise_dim=8, batch_size=64)
    g, d = build_models(cfg)
    _, single = build_models(cfg.replace(pack=1))
    first = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))][0]
    first_single = [m for m in single.modules() if isinstance(m, (nn.Conv2d, nn.Linear))][0]
    assert first.weight.shape[1] == 2 * first_single.weight.shape[1]
    with torch.no_grad():
        assert d.eval()(g.eval()(torch.randn(6, 8))).shape == (3,)


def test_a_batch_that_packing_cannot_cut_is_refused_before_training():
    with pytest.raises(ValueError, match=r"batch_size=100 is not a multiple of pack=3.*batch_size=99"):
        RunConfig(dataset="ring8", batch_size=100, pack=3).validate()
    with pytest.raises(ValueError, match="pack=0"):
        RunConfig(dataset="ring8", pack=0).validate()


def test_the_gradient_penalty_and_the_landscape_work_with_a_packed_critic():
    cfg = RunConfig(dataset="ring8", loss="wgan-gp", pack=2, noise_dim=8, batch_size=64)
    g, d = build_models(cfg)
    real, fake = torch.randn(64, 2), g(torch.randn(64, 8)).detach()
    penalty, norm = gh.losses.gradient_penalty(d, real, fake)
    penalty.backward()  # it reaches D's weights: the penalty trains the packed critic
    assert torch.isfinite(penalty) and norm > 0
    assert all(p.grad is not None for name, p in d.named_parameters() if "weight" in name)
    assert gh.models.critic_landscape(d, n=7).shape == (7, 7)


def test_point_depth_sets_both_mlps():
    g, d = build_models(RunConfig(dataset="ring8", point_depth=2, noise_dim=256))
    assert sum(isinstance(m, nn.Linear) for m in g.modules()) == 3
    assert sum(isinstance(m, nn.Linear) for m in d.modules()) == 3
    assert g.net[0].in_features == 256
