"""One real training epoch on MNIST writes every file a user relies on."""
import json
import os
import subprocess
import sys

import torch

import gan_helpers as gh
from gan_helpers.data import batches

RUN_FILES = ["hyperparameters.json", "training_metrics.json", "samples.gif", "losses.png",
             "d_outputs.png", "images/epoch_000.png", "images/epoch_001.png",
             "checkpoints/epoch_001.pt"]


def test_batches_are_shuffled_slices_in_range(mnist_ready, small_cfg):
    data = gh.load_dataset(small_cfg)
    assert data.images.dtype == torch.uint8 and data.images.shape == (256, 1, 28, 28)
    out = list(batches(data, 64, torch.Generator().manual_seed(0)))
    assert len(out) == 4 and out[0].shape == (64, 1, 28, 28)
    assert out[0].min() >= -1 and out[0].max() <= 1 and out[0].dtype == torch.float32


def test_one_epoch_writes_the_run_folder(mnist_ready, small_cfg, tmp_path):
    data = gh.load_dataset(small_cfg)
    run = gh.start_run(small_cfg, "unit", str(tmp_path), "r1")
    assert not run.path.exists()  # nothing is written before training starts
    history = gh.train(small_cfg, data, run, progress=False)
    for name in RUN_FILES:
        assert (run.path / name).is_file(), name
    metrics = json.loads((run.path / "training_metrics.json").read_text())
    for key in ("epoch", "d_loss", "g_loss", "d_real", "d_fake", "epoch_seconds"):
        assert len(metrics[key]) == 1, key
    assert metrics["device"] == "cpu" and metrics["total_seconds"] > 0
    assert 0 <= metrics["d_real"][0] <= 1 and 0 <= metrics["d_fake"][0] <= 1
    assert 0 < metrics["d_loss"][0] < 10 and history["epoch"] == [1]
    hp = json.loads((run.path / "hyperparameters.json").read_text())
    assert hp["config"]["batch_size"] == 64 and hp["experiment"] == "unit"
    offline = list((run.path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert offline, "W&B offline mode should write a run file"


def test_existing_run_folder_is_never_overwritten(small_cfg, tmp_path):
    (tmp_path / "exp" / "mine").mkdir(parents=True)
    (tmp_path / "exp" / "mine" / "notes.txt").write_text("keep me")
    run = gh.start_run(small_cfg, "exp", str(tmp_path), "mine")
    assert run.path.name == "mine-2"
    assert (tmp_path / "exp" / "mine" / "notes.txt").read_text() == "keep me"


def test_wandb_never_prompts_with_stdin_closed(tmp_path):
    """No key, stdin closed, WANDB_MODE unset: auto picks offline and finishes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB")}
    code = ("import gan_helpers as gh\n"
            "cfg = gh.RunConfig(max_images=128, batch_size=64, epochs=1, device='cpu')\n"
            "run = gh.start_run(cfg, 'p', '.', 'r')\n"
            "gh.train(cfg, gh.load_dataset(cfg), run, progress=False)\n"
            "print('mode', run.wandb_mode)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "mode offline" in out.stdout
