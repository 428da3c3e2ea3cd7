"""Where students run it: Colab's GPUs (precision), Colab Secrets and `wandb login` (W&B keys),
`wandb agent` stopping a run, and MNIST downloads.

Stand-ins, only for what this machine cannot have: a GPU's compute capability (monkeypatched
`env.cuda_capability`, `torch.cuda.get_device_properties`), the `google.colab` module (a fake
`userdata.get` raising Colab's own exception names) and the network (a recorder in place of
torchvision's download / the parent's MNIST preparation).
"""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch

import importlib

from gan_helpers import RunConfig, data, env, sweep, wandb_log
from gan_helpers.data import load_dataset

ROOT = Path(__file__).resolve().parents[1]
train = importlib.import_module("gan_helpers.train")  # the module, not gh.train()
NB01 = ROOT / "notebooks" / "01_mnist_dcgan_baseline.ipynb"
FAKE_KEY = "0123456789abcdef0123456789abcdef01234567"  # W&B keys are 40 hex characters


# ---- 1. precision by compute capability ------------------------------------------------------
@pytest.mark.parametrize("capability, auto", [((6, 0), None), ((7, 5), torch.float16),
                                              ((8, 0), torch.bfloat16), ((8, 9), torch.bfloat16),
                                              ((9, 0), torch.bfloat16)])
def test_auto_precision_follows_the_compute_capability(monkeypatch, capability, auto):
    monkeypatch.setattr(env, "cuda_capability", lambda device=None: capability)
    gpu = torch.device("cuda")
    assert train.autocast_dtype("auto", gpu) is auto
    assert train.autocast_dtype("fp16", gpu) is torch.float16
    if capability >= (8, 0):
        assert train.autocast_dtype("bf16", gpu) is torch.bfloat16
    else:  # a T4 (7.5) only emulates bf16: refused, with why and what to use instead
        with pytest.raises(ValueError, match=r"compute capability 8.0.*precision='fp16'") as err:
            train.autocast_dtype("bf16", gpu)
        assert f"{capability[0]}.{capability[1]}" in str(err.value)


@pytest.mark.parametrize("capability, says", [((7, 5), "fp16 + grad scaler"), ((8, 0), "bf16"),
                                              ((6, 0), "fp32")])
def test_gpu_report_says_what_auto_will_use(monkeypatch, capability, says):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: types.SimpleNamespace(
        name="Tesla T4", total_memory=15 * 2**30, major=capability[0], minor=capability[1]))
    monkeypatch.setattr(env, "cuda_capability", lambda device=None: capability)
    report = env.gpu_report()
    assert f"precision='auto' uses {says}" in report and "bf16: yes" not in report


@pytest.mark.parametrize("amp_dtype", [None, torch.float16])
def test_one_grad_scaler_update_per_iteration(amp_dtype):
    """PyTorch's AMP recipe for two optimisers: the scale grows once per growth_interval
    iterations (D step + G step), not twice as fast. A real GradScaler on the CPU."""
    cfg = RunConfig(dataset="ring8", max_images=512, batch_size=64, noise_dim=2, device="cpu",
                    precision="fp32", wandb_mode="disabled").validate()
    gan, points = train.prepare(cfg, load_dataset(cfg))
    gan.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=3)
    gan.amp_dtype = amp_dtype
    g_before = [p.detach().clone() for p in gan.g.parameters()]
    train.train_epoch(cfg, gan, points, max_steps=2)
    assert gan.scaler.get_scale() == 2.0**10  # 2 iterations: not grown yet
    train.train_epoch(cfg, gan, points, max_steps=1)
    assert gan.scaler.get_scale() == 2.0**11  # the 3rd iteration: grown exactly once
    assert any(not torch.equal(a, b) for a, b in zip(g_before, gan.g.parameters()))  # G stepped


# ---- 2. W&B keys -----------------------------------------------------------------------------
def fake_colab(monkeypatch, outcome):
    """A stand-in google.colab whose userdata.get answers as Colab does (its exception names)."""
    calls = []

    def get(name):
        calls.append(name)
        if outcome == "key":
            return FAKE_KEY
        raise type(outcome, (Exception,), {})(f"{outcome} for {name}")

    import google.protobuf  # noqa: F401 - the real `google` package (wandb needs it) stays
    import wandb  # noqa: F401 - imported for real before the stand-in joins `google`
    google, package = sys.modules["google"], types.ModuleType("google.colab")
    package.userdata = types.SimpleNamespace(get=get)
    monkeypatch.setattr(google, "colab", package, raising=False)
    monkeypatch.setitem(sys.modules, "google.colab", package)
    monkeypatch.setitem(sys.modules, "google.colab.userdata", package.userdata)
    monkeypatch.setattr(env, "_secrets", {})
    return calls


@pytest.fixture
def no_stored_key(monkeypatch, tmp_path):
    """No key anywhere: no WANDB_API_KEY, WANDB_MODE unset, a HOME without ~/.netrc."""
    for name in ("WANDB_API_KEY", "WANDB_MODE", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.mark.parametrize("outcome, why", [("SecretNotFoundError", "not set"),
                                          ("NotebookAccessError", "access denied"),
                                          ("TimeoutException", "timed out")])
def test_colab_secret_read_once_and_offline_says_why(monkeypatch, no_stored_key, capsys, outcome, why):
    calls = fake_colab(monkeypatch, outcome)
    assert wandb_log.resolve_wandb_mode("auto") == "offline"
    assert wandb_log.resolve_wandb_mode("auto") == "offline"
    assert calls == ["WANDB_API_KEY"]  # one dialog per process at most
    lines = [l for l in capsys.readouterr().out.splitlines() if l]
    assert len(lines) == 2 and all("W&B logs offline" in l and why in l for l in lines)
    with pytest.raises(ValueError, match=why):  # 'online' names the cause too
        wandb_log.resolve_wandb_mode("online")


def test_colab_secret_key_is_used_once_read(monkeypatch, no_stored_key):
    calls = fake_colab(monkeypatch, "key")
    assert wandb_log.resolve_wandb_mode("auto") == "online"
    assert wandb_log.child_env({})["WANDB_API_KEY"] == FAKE_KEY
    assert calls == ["WANDB_API_KEY"]


def run_python(code, env):
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def key_free_env(home):
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_API_KEY", "WANDB_MODE", "NETRC")}
    home.mkdir(parents=True, exist_ok=True)
    return dict(env, HOME=str(home))


def test_wandb_login_counts_as_a_key(tmp_path):
    """`wandb login` leaves the key in ~/.netrc: 'auto' is online and 'online' is accepted."""
    env = key_free_env(tmp_path / "home")
    netrc = tmp_path / "home" / ".netrc"
    netrc.write_text(f"machine api.wandb.ai\n  login user\n  password {FAKE_KEY}\n")
    netrc.chmod(0o600)
    code = ("from gan_helpers.wandb_log import resolve_wandb_mode as r, wandb_login_key as k\n"
            f"print(r('auto'), r('online'), k() == {FAKE_KEY!r})")
    out = run_python(code, env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["online", "online", "True"]
    assert FAKE_KEY not in out.stdout + out.stderr
    netrc.unlink()
    out = run_python(code.replace("r('online'), ", ""), env)
    assert out.stdout.splitlines() == [
        "W&B logs offline (upload later with `wandb sync`): no WANDB_API_KEY in the environment, "
        "no `wandb login` here, Colab Secret: not on Colab.", "offline False"]


KEY_PROBE = '''import hashlib, os, pathlib, wandb
folder = pathlib.Path(output_dir) / experiment / run_name
folder.mkdir(parents=True)
key = os.environ.get("WANDB_API_KEY", "")
(folder / "key_sha256.txt").write_text(hashlib.sha256(key.encode()).hexdigest())
run = wandb.init(project="key-probe", dir=str(folder), mode=wandb_mode, settings=wandb.Settings(console="off"))
run.log({"x": 1.0})
run.finish()
'''


def probe_notebook(path):
    """A tiny sweepable notebook: records a hash of the key its kernel sees, logs a W&B run."""
    import nbformat
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('experiment = "probe"\noutput_dir = "outputs"\n'
                                       'run_name = ""\nwandb_mode = "offline"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(KEY_PROBE)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def test_sweep_variants_get_the_colab_key_in_their_environment_only(monkeypatch, no_stored_key, tmp_path):
    fake_colab(monkeypatch, "key")
    notebook = probe_notebook(tmp_path / "probe.ipynb")
    result = sweep.run_sweep(notebook, grid={"wandb_mode": ["offline"]}, out=tmp_path / "sweeps",
                             name="keys", progress=False)
    assert [r["status"] for r in result.rows] == ["finished"], result.rows
    run_dir = Path(result.rows[0]["run_dir"])
    assert (run_dir / "key_sha256.txt").read_text() == hashlib.sha256(FAKE_KEY.encode()).hexdigest()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files) and any(p.name == "executed.ipynb" for p in files)
    assert [str(p) for p in files if FAKE_KEY.encode() in p.read_bytes()] == []
    assert "WANDB_API_KEY" not in os.environ  # nor set in the parent for good


# ---- 3. wandb agent stops a run --------------------------------------------------------------
def alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="alive() reads Linux /proc")
def test_sigterm_to_the_agent_stops_papermill_and_its_kernel(mnist_ready, tmp_path):
    """As `wandb agent` does: SIGTERM to `python -m gan_helpers.sweep agent` while notebook 01
    trains. No papermill, no kernel may survive it."""
    env = dict(os.environ, GAN_HELPERS_QUICK="0", WANDB_MODE="disabled", WANDB_SWEEP_ID="stop",
               WANDB_RUN_ID="run1")
    cmd = [sys.executable, "-m", "gan_helpers.sweep", "agent", str(NB01), "--max_images=256",
           "--batch_size=64", "--epochs=500"]
    agent = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    below = []
    try:
        checkpoint = tmp_path / "outputs" / "sweeps" / "stop" / "run1" / "checkpoints" / "epoch_001.pt"
        deadline = time.time() + 300
        while not checkpoint.exists():
            assert agent.poll() is None, agent.communicate()[1][-3000:]
            assert time.time() < deadline, "notebook 01 did not start training"
            time.sleep(0.2)
        below = sweep._descendants(agent.pid)
        assert len(below) >= 2, "expected papermill and its kernel below the agent"
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=60)
        assert agent.returncode == 1 and "stopped by SIGTERM" in err
        deadline = time.time() + 20
        while any(alive(p) for p in below) and time.time() < deadline:
            time.sleep(0.2)
        assert [p for p in below if alive(p)] == []
        status = json.loads((tmp_path / "outputs" / "sweeps" / "stop" / "status" / "run1.json").read_text())
        assert status["status"] == "failed" and "SIGTERM" in status["error"]
    finally:
        for pid in [agent.pid, *below]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


# ---- 6. downloads ----------------------------------------------------------------------------
def test_mnist_download_tries_the_working_mirror_first(monkeypatch, tmp_path):
    """Stand-in for the network: a recorder in place of torchvision's download, which fails."""
    import torchvision.datasets.mnist as tv_mnist
    tried = []

    def download(url, **kwargs):
        tried.append(url)
        raise RuntimeError("no network in tests")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", download)
    monkeypatch.setattr(tv_mnist.MNIST, "mirrors", ["http://yann.lecun.com/exdb/mnist/",
                                                    "https://ossci-datasets.s3.amazonaws.com/mnist/"])
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GAN_HELPERS_NO_DOWNLOAD", "0")
    with pytest.raises(FileNotFoundError):
        data.torchvision_mnist("mnist")
    assert tried[0].startswith("https://ossci-datasets") and "yann.lecun.com" in tried[1]


def test_sweep_with_jobs_downloads_once_before_the_variants(monkeypatch, tmp_path):
    prepared = []
    sweep_dir = tmp_path / "once"
    monkeypatch.setattr(data, "torchvision_mnist",  # stand-in for the download
                        lambda name: prepared.append((name, (sweep_dir / "notebooks").exists())))
    monkeypatch.setenv("GAN_HELPERS_NO_DOWNLOAD", "0")
    # two variants refused by the config check in their kernels: fast, and no data needed
    result = sweep.run_sweep(NB01, grid={"lr_g": [-1, -2]}, jobs=2, quick=True, out=tmp_path,
                             name="once", progress=False)
    assert [r["status"] for r in result.rows] == ["failed", "failed"]
    assert prepared == [("mnist", False)]  # once, before any variant started


def test_no_download_means_no_preparation_either(monkeypatch):
    prepared = []
    monkeypatch.setattr(data, "torchvision_mnist", prepared.append)
    monkeypatch.setenv("GAN_HELPERS_NO_DOWNLOAD", "1")
    assert data.prepare_datasets({"mnist", "ring8", None}) == [] and prepared == []
    monkeypatch.setenv("GAN_HELPERS_NO_DOWNLOAD", "0")
    assert data.prepare_datasets({"mnist", "ring8", None}) == ["mnist"] and prepared == ["mnist"]


def test_sweep_variants_on_colab_get_the_notebooks_data_folder_and_drive(monkeypatch, no_stored_key, tmp_path):
    """A variant's kernel is a fresh process where `google.colab` is not imported, so it cannot
    tell it is on Colab: it is handed the data folder the notebook uses (/content/data there, not
    ./data under notebooks/, which would download MNIST again per variant), and with
    use_drive=True the sweep folder is resolved on Drive by the notebook's own process."""
    fake_colab(monkeypatch, "SecretNotFoundError")
    monkeypatch.delenv("GAN_DATA_DIR", raising=False)
    assert sweep.variant_env()["GAN_DATA_DIR"] == "/content/data"
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path / "mine"))
    assert sweep.variant_env()["GAN_DATA_DIR"] == str(tmp_path / "mine")
    mounted = tmp_path / "drive"
    (mounted / "MyDrive").mkdir(parents=True)
    monkeypatch.setattr(env, "mount_drive", lambda: mounted)
    notebook = probe_notebook(tmp_path / "probe.ipynb")
    result = sweep.run_sweep(notebook, grid={"wandb_mode": ["disabled"]}, out="sweeps", name="d",
                             progress=False, use_drive=True)
    assert result.path == mounted / "MyDrive" / "gan-lab-notebooks" / "sweeps" / "d"
    assert [r["status"] for r in result.rows] == ["finished"], result.rows
