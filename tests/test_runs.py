"""The run folder and the checkpoint format: files written, never overwritten, kill and resume."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import gan_helpers as gh


RUN_FILES = ["hyperparameters.json", "training_metrics.json", "samples.gif", "losses.png",
             "d_outputs.png", "images/epoch_000.png", "images/epoch_001.png",
             "checkpoints/epoch_001.pt"]


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


ROOT = Path(__file__).resolve().parents[1]


NB01 = ROOT / "notebooks" / "01_mnist_dcgan_baseline.ipynb"


STATS = ("d_loss", "g_loss", "d_real", "d_fake")


def papermill_cmd(out_dir, run_name, **params):
    params = {**dict(output_dir=str(out_dir), run_name=run_name, epochs=4, max_images=256,
                     batch_size=64, wandb_mode="offline"), **params}
    cmd = [sys.executable, "-m", "papermill", str(NB01), str(out_dir / f"{run_name}.ipynb"),
           "--log-level", "WARNING"]
    for k, v in params.items():
        cmd += ["-p", k, str(v)]  # papermill reads 4 as int, True as bool
    return cmd


def full_mode_env(**extra):
    env = dict(os.environ, GAN_HELPERS_QUICK="0", **extra)
    return env


def test_kill_and_resume_equals_an_uninterrupted_run(mnist_ready, tmp_path):
    """4 epochs straight == 2+ epochs, SIGKILL of the whole papermill process group, resume."""
    env = full_mode_env()
    straight = subprocess.run(papermill_cmd(tmp_path, "straight"), env=env, capture_output=True,
                              text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr[-3000:]

    run_dir = tmp_path / "01_mnist_dcgan_baseline" / "killed"
    proc = subprocess.Popen(papermill_cmd(tmp_path, "killed"), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (run_dir / "checkpoints" / "epoch_002.pt").exists():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, "no checkpoint after epoch 2"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # papermill and its kernel: a Colab disconnect
    proc.wait()
    assert not (run_dir / "checkpoints" / "epoch_004.pt").exists()
    wandb_id = json.loads((run_dir / "hyperparameters.json").read_text())["wandb_run_id"]

    resumed = subprocess.run(papermill_cmd(tmp_path, "killed", resume=True), env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    a = torch.load(tmp_path / "01_mnist_dcgan_baseline" / "straight" / "checkpoints" / "epoch_004.pt",
                   weights_only=True)
    b = torch.load(run_dir / "checkpoints" / "epoch_004.pt", weights_only=True)
    for net in ("generator", "discriminator"):
        for name, tensor in a[net].items():
            assert torch.allclose(tensor.float(), b[net][name].float(), atol=1e-6, rtol=0), (net, name)
    ma = json.loads((tmp_path / "01_mnist_dcgan_baseline" / "straight" / "training_metrics.json").read_text())
    mb = json.loads((run_dir / "training_metrics.json").read_text())
    assert ma["epoch"] == mb["epoch"] == [1, 2, 3, 4]
    for key in STATS:
        assert mb[key] == pytest.approx(ma[key], abs=1e-6), key
    assert json.loads((run_dir / "hyperparameters.json").read_text())["wandb_run_id"] == wandb_id
    assert (run_dir / "images" / "epoch_004.png").exists() and (run_dir / "samples.gif").exists()
    assert len(list((run_dir / "checkpoints").glob("epoch_*.pt"))) == 2  # the last two kept


def test_resume_with_another_config_names_the_fields(mnist_ready, small_cfg, tmp_path):
    data = gh.load_dataset(small_cfg)
    gh.train(small_cfg.replace(wandb_mode="disabled"), data,
             gh.start_run(small_cfg.replace(wandb_mode="disabled"), "e", str(tmp_path), "r"),
             progress=False)
    other = small_cfg.replace(lr_g=3e-4, batch_size=32, epochs=3, wandb_mode="disabled")
    before = sorted(p.name for p in (tmp_path / "e" / "r").rglob("*"))
    with pytest.raises(ValueError) as err:
        gh.train(other, data, gh.start_run(other, "e", str(tmp_path), "r", resume=True), progress=False)
    assert "lr_g" in str(err.value) and "batch_size" in str(err.value)
    assert "epochs" not in str(err.value)  # more epochs is what resuming is for
    assert sorted(p.name for p in (tmp_path / "e" / "r").rglob("*")) == before


def test_resume_without_checkpoints_says_what_to_do(small_cfg, tmp_path):
    with pytest.raises(FileNotFoundError, match="resume=False"):
        gh.start_run(small_cfg, "nothing-here", str(tmp_path), resume=True)


def test_resume_keeps_the_per_step_losses(mnist_ready, small_cfg, tmp_path):
    """2 epochs, then resume to 3: training_metrics.json has every step of all 3 epochs,
    the first 2 epochs' steps unchanged (256 images / batch 64 = 4 steps an epoch)."""
    data = gh.load_dataset(small_cfg)
    cfg = small_cfg.replace(epochs=2)
    gh.train(cfg, data, gh.start_run(cfg, "e", str(tmp_path), "r"), progress=False)
    before = json.loads((tmp_path / "e" / "r" / "training_metrics.json").read_text())
    cfg = small_cfg.replace(epochs=3)
    gh.train(cfg, data, gh.start_run(cfg, "e", str(tmp_path), "r", resume=True), progress=False)
    after = json.loads((tmp_path / "e" / "r" / "training_metrics.json").read_text())
    assert [len(v) for v in after["step_d_loss"]] == [4, 4, 4]
    assert sum(len(v) for v in after["step_g_loss"]) == 4 * 3  # steps x epochs
    assert after["step_d_loss"][:2] == before["step_d_loss"]
