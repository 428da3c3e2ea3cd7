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
