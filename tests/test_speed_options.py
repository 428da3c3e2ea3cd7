"""Every speed switch trains on the CPU and leaves the run the same kind of run (no timings here:
speed is measured by `python -m gan_helpers.bench`)."""
import pytest
import torch

from gan_helpers import RunConfig, load_dataset
from gan_helpers.train import run_epoch, setup, speed_settings

STEPS = 3


def losses_after(cfg, data):
    t = setup(cfg.validate(), data)
    sums = run_epoch(t, cfg, max_steps=STEPS).tolist()
    return t, sums[0] / STEPS, sums[1] / STEPS  # mean d_loss, g_loss


@pytest.fixture(scope="module")
def mnist():
    cfg = RunConfig(max_images=256, batch_size=32, device="cpu").validate()
    return cfg, load_dataset(cfg)


def test_automatic_switches_on_cpu_are_the_plain_path(mnist):
    cfg, _ = mnist
    assert speed_settings(cfg, torch.device("cpu")) == dict(
        channels_last=False, compile=False, fused_optimizer=False, cudnn_benchmark=False)
    assert speed_settings(cfg, torch.device("cuda"))["channels_last"] is True  # and fused, cudnn


@pytest.mark.parametrize("changes", [dict(channels_last=True), dict(fused_optimizer=True),
                                     dict(cudnn_benchmark=True)], ids=str)
def test_exact_options_match_the_baseline(mnist, changes):
    cfg, data = mnist
    _, d0, g0 = losses_after(cfg.replace(precision="fp32"), data)
    t, d1, g1 = losses_after(cfg.replace(precision="fp32", **changes), data)
    assert all(t.speed[k] == v for k, v in changes.items())
    if changes.get("channels_last"):
        assert t.g.net[4].weight.is_contiguous(memory_format=torch.channels_last)
    if changes.get("fused_optimizer"):
        assert t.opt_g.defaults["fused"] is True
    # the same maths; channels_last picks other conv kernels (another summation order)
    assert d1 == pytest.approx(d0, rel=2e-2) and g1 == pytest.approx(g0, rel=2e-2)


def test_automatic_precision_follows_the_hardware():
    from gan_helpers.train import autocast_dtype, cpu_has_bf16
    expected = torch.bfloat16 if cpu_has_bf16() else None
    assert autocast_dtype("auto", torch.device("cpu")) is expected
    assert autocast_dtype("fp32", torch.device("cpu")) is None


def test_bf16_autocast_stays_close(mnist):
    cfg, data = mnist
    _, d0, g0 = losses_after(cfg.replace(precision="fp32"), data)
    t, d1, g1 = losses_after(cfg.replace(precision="bf16"), data)
    assert t.amp_dtype == torch.bfloat16
    assert d1 == pytest.approx(d0, rel=0.1) and g1 == pytest.approx(g0, rel=0.1)


def test_fp16_on_cpu_is_refused_with_the_reason(mnist):
    cfg, data = mnist
    with pytest.raises(ValueError, match="fp16' needs a CUDA GPU"):
        setup(cfg.replace(precision="fp16"), data)


def test_compile_switch_compiles_the_real_steps():
    """torch.compile on the small 2D models (a C++ build on the CPU: the slowest test here)."""
    cfg = RunConfig(dataset="ring8", max_images=256, batch_size=64, noise_dim=2, device="cpu")
    data = load_dataset(cfg.validate())
    _, d0, g0 = losses_after(cfg, data)
    torch._dynamo.reset()
    t, d1, g1 = losses_after(cfg.replace(compile=True), data)
    assert t.speed["compile"]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 2  # G and D were compiled
    assert d1 == pytest.approx(d0, rel=1e-3) and g1 == pytest.approx(g0, rel=1e-3)
