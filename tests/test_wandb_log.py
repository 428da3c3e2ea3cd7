"""W&B never prompts, refuses online without a key, and never writes the key anywhere."""
import os
import subprocess
import sys

import pytest

import gan_helpers as gh
from test_runs import papermill_cmd  # the same headless notebook-01 run


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






def test_online_wandb_without_a_key_is_refused(monkeypatch, small_cfg, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    with pytest.raises(ValueError, match="WANDB_API_KEY"):
        gh.start_run(small_cfg.replace(wandb_mode="online"), "x", str(tmp_path))
    assert list(tmp_path.iterdir()) == []


# ---- secrets -------------------------------------------------------------------------------
def test_wandb_key_never_lands_in_any_file(mnist_ready, tmp_path):
    """A notebook run with a (fake) key in the environment: grep every file it produced."""
    key = "0123456789abcdef0123456789abcdef01234567"  # W&B keys are 40 hex characters
    env = dict(os.environ, GAN_HELPERS_QUICK="1", WANDB_API_KEY=key, WANDB_MODE="offline")
    cmd = papermill_cmd(tmp_path, "secret", wandb_mode="auto")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert key not in out.stdout + out.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files) and any(p.suffix == ".ipynb" for p in files)
    leaked = [str(p) for p in files if key.encode() in p.read_bytes()]
    assert leaked == []


class FakeWandbRun:
    def __init__(self):
        self.calls = []

    def log(self, row, step):
        self.calls.append((step, row))


def test_each_step_is_logged_at_its_own_wandb_step():
    """Epoch 2 of 4 D steps each, a G step every 2nd: W&B steps 5..8 carry step/d_loss,
    steps 6 and 8 step/g_loss, and the epoch's numbers land on its last step (8)."""
    from gan_helpers import wandb_log
    history = {"epoch": [1, 2], "d_loss": [1.0, 0.9], "step_d_loss": [[1, 1, 1, 1], [.8, .9, 1., .9]],
               "step_g_loss": [[2, 2], [3., 4.]], "device": "cpu"}
    fake = FakeWandbRun()
    wandb_log.log(fake, history, critic_steps=2)
    steps = [s for s, _ in fake.calls]
    assert steps == [5, 6, 7, 8, 8] and steps == sorted(steps)  # W&B steps only go forward
    assert [r.get("step/d_loss") for _, r in fake.calls[:4]] == [.8, .9, 1., .9]
    assert [(s, r["step/g_loss"]) for s, r in fake.calls if "step/g_loss" in r] == [(6, 3.), (8, 4.)]
    assert fake.calls[-1][1] == {"epoch": 2, "d_loss": 0.9}  # lists of lists are not epoch numbers


def test_g_losses_land_after_their_critic_steps_in_an_uneven_epoch():
    """7 D steps with a G step every 5th (WGAN-GP): one G loss, after D step 5, not step 7."""
    from gan_helpers import wandb_log
    history = {"epoch": [1], "step_d_loss": [[1.0] * 7], "step_g_loss": [[2.0]], "device": "cpu"}
    fake = FakeWandbRun()
    wandb_log.log(fake, history, critic_steps=5)
    assert [(s, r["step/g_loss"]) for s, r in fake.calls if "step/g_loss" in r] == [(5, 2.0)]


def test_each_epoch_reaches_wandb_once(mnist_ready, tmp_path):
    """A real offline W&B run of two epochs: W&B's own log shows no history record it had to
    drop (the last epoch used to be logged a second time when training ended)."""
    cfg = gh.RunConfig(max_images=128, batch_size=64, epochs=2, device="cpu", wandb_mode="offline")
    gh.train(cfg, gh.load_dataset(cfg), gh.start_run(cfg, "e", str(tmp_path), "r"), progress=False)
    logs = list((tmp_path / "e" / "r" / "wandb").glob("offline-run-*/logs/debug-internal.log"))
    assert logs and "ignoring partial history record" not in logs[0].read_text()
