"""The golden test (issue 43): a refactoring of the package must not change one number it trains.

For each loss family (bce, lsgan, hinge, wgan, wgan-gp, rpgan), and for EMA and packing, a fixed
seed trains real MNIST for two dozen G steps in fp32 on one CPU thread. The final checkpoint's
weights (G, D and the averaged G) and the history's numbers are hashed bit for bit and compared
with tests/data/golden.json, recorded before the first refactoring commit.

Bit-identical holds only where the CPU runs the same kernels: torch picks its vector kernels by
the CPU's capability (AVX512, AVX2, ...). On a CPU of the recorded capability the hashes must
match exactly; on another, the weights' and losses' sums must match to 1e-4 (relative), which a
changed step, loss or order of random draws would miss by far.

    GAN_GOLDEN_RECORD=1 pytest tests/test_golden.py   # writes tests/data/golden.json (never in CI)
"""
import hashlib
import json
import math
import os
from pathlib import Path

import pytest
import torch

import gan_helpers as gh

GOLDEN = Path(__file__).parent / "data" / "golden.json"
CASES = {
    "bce": {}, "lsgan": {"loss": "lsgan"}, "hinge": {"loss": "hinge"}, "wgan": {"loss": "wgan", "n_critic": 2},
    "wgan-gp": {"loss": "wgan-gp", "n_critic": 2}, "rpgan": {"loss": "rpgan"},
    "ema": {"ema": 0.9}, "pack": {"pack": 2},
}
# Not timings, not paths: what training computes
SKIP = {"epoch_seconds", "total_seconds", "images_per_second", "device"}


def train_case(overrides, tmp_path):
    cfg = gh.RunConfig(max_images=192, batch_size=16, epochs=2, device="cpu", precision="fp32", seed=7,
                       wandb_mode="disabled", **overrides).validate()
    run = gh.start_run(cfg, "golden", tmp_path, "run")
    history = gh.train(cfg, gh.load_dataset(cfg), run, progress=False)
    checkpoint = torch.load(sorted((run.path / "checkpoints").glob("*.pt"))[-1], weights_only=True)
    tensors = {f"{net}.{k}": v for net in ("generator", "discriminator", "generator_ema")
               for k, v in (checkpoint.get(net) or {}).items() if torch.is_tensor(v)}
    numbers = {k: v for k, v in history.items() if k not in SKIP and not k.endswith("_seconds")}
    return tensors, numbers


def fingerprint(tensors, numbers):
    weights = hashlib.sha256()
    for name in sorted(tensors):
        weights.update(name.encode() + tensors[name].detach().cpu().contiguous().numpy().tobytes())
    history = hashlib.sha256(json.dumps(numbers, sort_keys=True, default=str).encode())
    sums = {name: float(t.double().abs().sum()) for name, t in tensors.items() if t.is_floating_point()}
    losses = {k: [float(x) for x in v if isinstance(x, (int, float))] for k, v in numbers.items()
              if k in ("d_loss", "g_loss") and isinstance(v, list)}
    return {"weights": weights.hexdigest(), "history": history.hexdigest(), "sums": sums, "losses": losses}


def capability():
    return torch.backends.cpu.get_cpu_capability()


@pytest.fixture(scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the order of every reduction fixed
    yield
    torch.set_num_threads(threads)


def test_record_golden(one_thread, tmp_path, mnist_ready, monkeypatch):
    if not os.environ.get("GAN_GOLDEN_RECORD"):
        pytest.skip("records tests/data/golden.json only when GAN_GOLDEN_RECORD=1")
    monkeypatch.delenv("GAN_HELPERS_QUICK")  # the run as configured, not shrunk
    cases = {name: fingerprint(*train_case(o, tmp_path / name)) for name, o in CASES.items()}
    GOLDEN.write_text(json.dumps({"capability": capability(), "torch": torch.__version__.split("+")[0],
                                  "cases": cases}, indent=1) + "\n")


@pytest.mark.parametrize("name", list(CASES))
def test_training_gives_the_recorded_numbers(name, one_thread, tmp_path, mnist_ready, monkeypatch):
    monkeypatch.delenv("GAN_HELPERS_QUICK")
    golden = json.loads(GOLDEN.read_text())
    got, want = fingerprint(*train_case(CASES[name], tmp_path)), golden["cases"][name]
    same_kernels = capability() == golden["capability"] and torch.__version__.split("+")[0] == golden["torch"]
    if same_kernels:
        assert got["weights"] == want["weights"] and got["history"] == want["history"], \
            f"{name}: training changed its numbers (weights or history no longer bit-identical)"
    assert got["sums"].keys() == want["sums"].keys()
    for key, value in want["sums"].items():
        assert math.isclose(got["sums"][key], value, rel_tol=1e-4), (name, key)
    for key, values in want["losses"].items():
        assert got["losses"][key] == pytest.approx(values, rel=1e-4, abs=1e-6), (name, key)
