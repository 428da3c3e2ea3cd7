"""benchmarks/bench.py: the naive loop and gan_helpers' own training path, timed side by side.

Speed itself is never asserted here (it depends on the machine and its load); what is
asserted is what the benchmark's table relies on: every variant ran, the naive loop is the
yardstick (ratio exactly 1) and every ratio is computed against it in the same run."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench  # noqa: E402


def test_benchmark_times_every_variant_against_the_naive_loop(mnist_ready, capsys):
    result = bench.main(["--device", "cpu", "--steps", "1", "--warmup", "1", "--batch", "8",
                         "--repeats", "1"])
    rows = result["rows"]
    names = [r["name"] for r in rows]
    assert names[0].startswith("naive loop") and "gan_helpers, automatic" in names
    assert rows[0]["vs_naive"] == 1.0
    for r in rows:
        assert r["images_per_s"] > 0
        assert r["vs_naive"] == pytest.approx(r["images_per_s"] / rows[0]["images_per_s"])
    assert "| variant | images/s |" in capsys.readouterr().out


import variant_cost  # noqa: E402


def test_training_flops_are_counted_as_the_step_runs(mnist_ready):
    """benchmarks/variant_cost.py counts what a G step's worth of training computes: twice the
    batch, twice the FLOPs; the A/A control costs what the baseline costs; and the kernels'
    areas order the variants (8x8 > 5x5 > 4x4)."""
    from gan_helpers.data import load_dataset
    from gan_helpers.train import prepare
    cfgs = variant_cost.configs("02_architecture_variations")
    assert list(cfgs)[:2] == ["tf_tutorial", "aa_control"]

    def flops(name, batch):
        cfg = cfgs[name].replace(batch_size=batch, max_images=64, device="cpu")
        gan, data = prepare(cfg, load_dataset(cfg))
        return variant_cost.flops_per_g_step(cfg, gan, data)
    base = flops("tf_tutorial", 8)
    assert flops("tf_tutorial", 16) == 2 * base and flops("aa_control", 8) == base
    assert flops("kernel8_stride1_2", 8) > base > flops("kernel4", 8)
