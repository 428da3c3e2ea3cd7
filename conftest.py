"""Test setup (tests/ and nbmake over notebooks/ alike): quick mode, real MNIST from ../shared/data, W&B offline, no downloads.

Set before any kernel starts, so nbmake's notebook kernels inherit it too.
"""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ["GAN_HELPERS_QUICK"] = "1"
os.environ["GAN_HELPERS_NO_DOWNLOAD"] = "1"
os.environ.setdefault("GAN_DATA_DIR", str(SHARED_DATA))
os.environ["WANDB_MODE"] = "offline"
os.environ.pop("WANDB_API_KEY", None)
os.environ.setdefault("MPLBACKEND", "Agg")
# Under pytest-xdist each worker gets one core: torch in the worker and in every kernel and
# script it starts (they inherit the variable) uses one thread, so the workers do not fight
# over the cores
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"


def pytest_configure(config):
    """GAN_NOTEBOOK_KERNEL names the Jupyter kernel nbmake runs every notebook in. CI's Colab
    lane (.ci/run) sets it to a second environment at Colab's library versions."""
    kernel = os.environ.get("GAN_NOTEBOOK_KERNEL")
    if kernel and getattr(config.option, "nbmake_kernel", None) is None:
        config.option.nbmake_kernel = kernel


@pytest.fixture
def mnist_ready():
    if not (Path(os.environ["GAN_DATA_DIR"]) / "MNIST" / "raw").is_dir():
        pytest.fail(f"MNIST not found under GAN_DATA_DIR={os.environ['GAN_DATA_DIR']}; "
                    "point it at the folder holding MNIST/raw (CI: ../shared/data).")


@pytest.fixture
def small_cfg():
    """A real MNIST run, shrunk: 256 images, batch 64, 1 epoch, on the CPU."""
    from gan_helpers import RunConfig
    return RunConfig(max_images=256, batch_size=64, epochs=1, device="cpu").validate()

# Prepared image folders and the demo images go to a scratch cache, never into the repo or data.
os.environ.setdefault("GAN_CACHE_DIR", __import__("tempfile").mkdtemp(prefix="gan-cache-"))
