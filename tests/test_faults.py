"""Faults and bad input: kill-and-resume, divergence, the bad-input table, no leaked secrets."""
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
from gan_helpers import RunConfig
from gan_helpers.train import DivergenceError

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


def test_divergence_stops_with_advice_and_keeps_the_good_checkpoint(mnist_ready, tmp_path):
    """D at lr 9e-3 against a G at 1e-7: D(G(z)) hits 0 and G's loss explodes; the run stops
    and says what to try."""
    cfg = RunConfig(max_images=128, batch_size=64, epochs=8, lr_d=9e-3, lr_g=1e-7, precision="fp32",
                    device="cpu", wandb_mode="disabled").validate()
    run = gh.start_run(cfg, "diverge", str(tmp_path), "r")
    with pytest.raises(DivergenceError) as err:
        gh.train(cfg, gh.load_dataset(cfg), run, progress=False)
    message = str(err.value)
    for knob in ("lr_d", "label_smoothing", "instance_noise", "wgan-gp"):
        assert knob in message
    kept = run.checkpoints()
    assert kept, "the last good checkpoint must be kept"
    state = torch.load(kept[-1], weights_only=True)
    assert all(torch.isfinite(t).all() for t in state["generator"].values() if t.is_floating_point())


def test_nan_in_warn_mode_never_replaces_good_checkpoints(mnist_ready, tmp_path, capsys):
    cfg = RunConfig(max_images=128, batch_size=64, epochs=2, optimizer="sgd", lr_g=0.9, lr_d=0.9,
                    device="cpu", wandb_mode="disabled", on_divergence="warn").validate()
    run = gh.start_run(cfg, "nan", str(tmp_path), "r")
    history = gh.train(cfg, gh.load_dataset(cfg), run, progress=False)
    assert "WARNING: Training diverged" in capsys.readouterr().out
    assert len(history["epoch"]) == 2
    for path in run.checkpoints():
        state = torch.load(path, weights_only=True)
        assert all(torch.isfinite(t).all() for t in state["generator"].values()
                   if t.is_floating_point())


# ---- bad input, answered before any file is written ------------------------------------------
BAD_CONFIGS = [
    # wrong type
    (dict(batch_size="64"), "batch_size"), (dict(epochs=2.5), "epochs"),
    (dict(noise_dim=None), "noise_dim"), (dict(lr_g="1e-4"), "lr_g"), (dict(lr_d=[1e-4]), "lr_d"),
    (dict(dataset=1), "dataset"), (dict(preset=None), "preset"), (dict(seed=1.5), "seed"),
    (dict(label_smoothing="0.9"), "label_smoothing"), (dict(instance_noise=None), "instance_noise"),
    (dict(betas_g=0.5), "betas_g"), (dict(g_channels=64), "g_channels"), (dict(g_kernel=4.0), "g_kernel"),
    (dict(g_refine="1"), "g_refine"), (dict(d_dropout="0.3"), "d_dropout"), (dict(compile="yes"), "compile"),
    (dict(channels_last=1), "channels_last"), (dict(n_critic=5.0), "n_critic"),
    (dict(gp_lambda="10"), "gp_lambda"), (dict(image_size="28"), "image_size"),
    (dict(wandb_project=None), "wandb_project"), (dict(max_images=-1), "max_images"),
    # out of range
    (dict(lr_g=0.0), "lr_g"), (dict(lr_d=-1e-4), "lr_d"), (dict(lr_d=1.5), "lr_d"),
    (dict(batch_size=0), "batch_size"), (dict(batch_size=-8), "batch_size"), (dict(epochs=0), "epochs"),
    (dict(noise_dim=0), "noise_dim"), (dict(label_smoothing=0.0), "label_smoothing"),
    (dict(label_smoothing=1.1), "label_smoothing"), (dict(instance_noise=-0.1), "instance_noise"),
    (dict(instance_noise=1.0), "instance_noise"), (dict(betas_d=(0.5, 1.0)), "betas_d"),
    (dict(gp_lambda=-1.0), "gp_lambda"), (dict(clip_value=0.0), "clip_value"),
    (dict(image_size=30), "image_size"), (dict(channels=2), "channels"), (dict(d_dropout=1.0), "d_dropout"),
    (dict(snapshot_every=0), "snapshot_every"), (dict(device="gpu"), "device"),
    # unknown names, with the valid names or a close match
    (dict(optimizer="adamw"), "did you mean 'adam'"), (dict(loss="wgan_gp"), "did you mean 'wgan-gp'"),
    (dict(g_norm="batchnorm"), "did you mean 'batch'"), (dict(preset="dcgan"), "did you mean 'dcgan64'"),
    (dict(dataset="mnsit"), "did you mean 'mnist'"), (dict(precision="fp8"), "fp32"),
    (dict(upsample="pixelshuffle"), "upsample"), (dict(wandb_mode="on"), "wandb_mode"),
    # impossible shapes, and BatchNorm in a critic
    (dict(g_strides=[2, 2, 2]), "image_size"), (dict(g_kernel=1), "generator layer"),
    (dict(g_strides=[1, 2]), "g_strides has 2 entries"), (dict(d_kernel=1), "discriminator layer 1"),
    (dict(d_strides=[2, 2, 2]), "d_strides has 3 entries"),
    (dict(preset="dcgan64"), "not a multiple of 16"),
    (dict(loss="wgan-gp", preset="dcgan64", image_size=64), "d_norm='instance'"),
    # data
    (dict(dataset="folder"), "data_path"),
    # not finite: NaN passes every range check (issue 14, point 6)
    (dict(lr_g=float("nan")), "lr_g"), (dict(lr_d=float("inf")), "lr_d"),
    (dict(gp_lambda=float("nan")), "gp_lambda"), (dict(clip_value=float("nan")), "clip_value"),
    (dict(leaky_slope=float("nan")), "leaky_slope"), (dict(d_dropout=float("nan")), "d_dropout"),
    (dict(label_smoothing=float("nan")), "label_smoothing"),
    (dict(optimizer="sgd", lr_d=float("nan")), "lr_d"), (dict(gp_lambda=float("inf")), "gp_lambda"),
    (dict(betas_g=(float("nan"), 0.999)), "betas_g"),
    # fractions in whole-number lists (point 7)
    (dict(g_strides=[1.9, 2, 2]), "g_strides"), (dict(d_channels=[64, 127.5]), "d_channels"),
    # torch would crash (point 8)
    (dict(batch_size=1), "g_norm='batch'"),
    (dict(batch_size=1, preset="dcgan64", image_size=64), "g_norm and d_norm"),
    (dict(noise_dim=10**9), "noise_dim"), (dict(seed=2**64), "seed"),
    (dict(g_kernel=0, upsample="nearest"), "g_kernel"),
]


@pytest.mark.parametrize("change, words", BAD_CONFIGS, ids=[str(c) for c, _ in BAD_CONFIGS])
def test_bad_config_is_refused_before_anything_is_written(change, words, tmp_path):
    params = dict(experiment="x", output_dir=str(tmp_path), **change)
    with pytest.raises(ValueError) as err:
        RunConfig.from_params(params, quiet=True)
    assert words in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_batch_larger_than_the_data_set(mnist_ready, tmp_path):
    cfg = RunConfig(max_images=100, batch_size=128).validate()
    with pytest.raises(ValueError, match="batch_size <= 100"):
        gh.load_dataset(cfg)


def test_missing_data_folder_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError) as err:
        gh.load_dataset(RunConfig(dataset="fashion_mnist").validate())
    assert "download_mnist.py" in str(err.value) and "GAN_DATA_DIR" in str(err.value)


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


# ---- issue 14: nothing a student does loses their work ------------------------------------
def _fake_state(epoch, size=8):
    """A checkpoint with every key train() saves (real tensors, a real torch.save)."""
    state = {k: {} for k in ("epoch", "config", "generator", "discriminator", "opt_g", "opt_d",
                              "scaler", "fixed_noise", "history", "rng")}
    state.update(epoch=epoch, config={}, generator={"w": torch.full((size,), float(epoch))})
    return state


def test_checkpoints_past_epoch_999_are_kept_and_resumed_from(small_cfg, tmp_path):
    """Point 1: as text epoch_1000.pt sorts before epoch_998.pt; pruning must go by number."""
    run = gh.start_run(small_cfg.replace(wandb_mode="disabled"), "e", str(tmp_path), "r")
    run.open("cpu")
    for epoch in (998, 999, 1000, 1001):
        written = run.save_checkpoint(_fake_state(epoch), epoch)
        assert written.exists(), f"epoch {epoch}'s checkpoint was deleted as it was written"
    assert [p.name for p in run.checkpoints()] == ["epoch_1000.pt", "epoch_1001.pt"]
    assert run.load_checkpoint()["epoch"] == 1001
    for epoch in (999, 1000):  # the GIF's frames and "last samples" go by number as well
        (run.images_dir / f"epoch_{epoch:03d}.png").write_bytes(b"")
    assert gh.tracking.epoch_files(run.images_dir, "png")[-1].name == "epoch_1000.png"


def test_two_runs_with_one_name_get_two_folders(small_cfg, tmp_path):
    """Point 3: both pick "r" before either creates it; each must still get its own folder."""
    cfg = small_cfg.replace(wandb_mode="disabled")
    first = gh.start_run(cfg, "e", str(tmp_path), "r")
    second = gh.start_run(cfg.replace(lr_g=3e-4), "e", str(tmp_path), "r")
    first.open("cpu")
    second.open("cpu")
    assert first.path != second.path and second.path.name == "r-2"
    assert json.loads((first.path / "hyperparameters.json").read_text())["config"]["lr_g"] == 1e-4
    assert json.loads((second.path / "hyperparameters.json").read_text())["config"]["lr_g"] == 3e-4


def _save_on_a_full_disk(checkpoints):
    """Runs in a child process whose file size limit is 1 MB: the kernel refuses the write
    (EFBIG) inside torch's own writer, as a full disk does (ENOSPC)."""
    import resource
    import signal as sig
    sig.signal(sig.SIGXFSZ, sig.SIG_IGN)  # a failed write, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    from gan_helpers import RunConfig, start_run
    run = start_run(RunConfig(wandb_mode="disabled"), "e", checkpoints, "r")
    run.open("cpu")
    run.save_checkpoint(_fake_state(1), 1)  # small: fits
    try:
        run.save_checkpoint(_fake_state(2, size=1 << 20), 2)  # 4 MB: does not
    except OSError as e:
        print("ERROR:", e)


def test_disk_full_while_saving_a_checkpoint_says_so_and_cleans_up(tmp_path):
    """Point 5. Stand-in for a full disk: RLIMIT_FSIZE (no root, no small filesystem needed)
    makes the real write inside torch.save fail; torch reports it as 'enforce fail'."""
    code = (f"import sys; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests')!r}]; "
            f"from test_faults import _save_on_a_full_disk; _save_on_a_full_disk({str(tmp_path)!r})")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, WANDB_MODE="disabled"))
    checkpoints = tmp_path / "e" / "r" / "checkpoints"
    assert "the disk is full" in out.stdout, out.stdout + out.stderr
    assert str(checkpoints) in out.stdout and "Free space" in out.stdout
    assert "enforce fail" not in out.stdout
    assert sorted(p.name for p in checkpoints.iterdir()) == ["epoch_001.pt"]  # no .tmp left
    assert torch.load(checkpoints / "epoch_001.pt", weights_only=True)["epoch"] == 1


def test_exploding_loss_is_divergence(mnist_ready, tmp_path, capsys):
    """Point 9: lr_d=0.99 grows the losses by orders of magnitude (LSGAN to 1e14) without a
    NaN; the run stops, or in warn mode says so and keeps going."""
    cfg = RunConfig(max_images=128, batch_size=64, epochs=2, lr_d=0.99, precision="fp32",
                    device="cpu", wandb_mode="disabled").validate()
    run = gh.start_run(cfg, "e", str(tmp_path), "r")
    with pytest.raises(DivergenceError, match="loss exploded to"):
        gh.train(cfg, gh.load_dataset(cfg), run, progress=False)
    assert run.checkpoints() == []  # exploded weights never become a checkpoint
    history = gh.train(cfg.replace(loss="lsgan", on_divergence="warn"), gh.load_dataset(cfg),
                       progress=False)
    assert len(history["epoch"]) == 2 and "WARNING: Training diverged" in capsys.readouterr().out


def test_rerun_with_trained_models_says_it_continues(mnist_ready, small_cfg, tmp_path, capsys):
    """Point 10: the second run of a training cell with the same G, D is not a fresh start."""
    cfg = small_cfg.replace(wandb_mode="disabled")
    data = gh.load_dataset(cfg)
    models = gh.build_models(cfg)
    first = gh.start_run(cfg, "e", str(tmp_path), "r")
    gh.train(cfg, data, first, models=models, progress=False)
    assert "already trained" not in capsys.readouterr().out
    second = gh.start_run(cfg, "e", str(tmp_path), "r")
    gh.train(cfg, data, second, models=models, progress=False)
    assert "already trained for 1 epochs" in capsys.readouterr().out
    info = lambda run: json.loads((run.path / "hyperparameters.json").read_text())["weights"]
    assert info(first) == {"from": "fresh init"}
    assert info(second)["from"] == "continued in memory" and info(second)["epochs_before"] == 1
    assert info(second)["previous_run"] == str(first.path)


def test_output_dir_that_is_a_file_is_named_when_the_run_is_created(small_cfg, tmp_path):
    """Point 11: said at start_run, before data loading, with the folder and what to change."""
    (tmp_path / "outputs").write_text("not a folder")
    with pytest.raises(NotADirectoryError) as err:
        gh.start_run(small_cfg, "e", str(tmp_path / "outputs"), "r")
    assert str(tmp_path / "outputs") in str(err.value) and "output_dir" in str(err.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders anyway")
def test_read_only_output_dir_is_named_when_the_run_is_created(small_cfg, tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    try:
        with pytest.raises(PermissionError, match="output_dir"):
            gh.start_run(small_cfg, "e", str(tmp_path / "ro"), "r")
    finally:
        (tmp_path / "ro").chmod(0o755)


@pytest.mark.parametrize("name", ["../escape", "a/b", "/tmp/abs", "..", "."])
def test_run_name_must_be_one_folder_name(small_cfg, tmp_path, name):
    """Point 12: a path in run_name would write outside the experiment folder."""
    with pytest.raises(ValueError, match="run_name"):
        gh.start_run(small_cfg, "e", str(tmp_path / "out"), name)
    assert list(tmp_path.iterdir()) == []


def test_bad_checkpoints_fall_back_with_reasons_a_student_can_act_on(small_cfg, tmp_path, capsys):
    """Point 13: wrong keys, Python objects, garbage: each skipped for the one before, in
    resume and in load_generator alike; never torch's advice to set weights_only=False."""
    cfg = small_cfg.replace(wandb_mode="disabled", device="cpu")
    run = gh.start_run(cfg, "e", str(tmp_path), "r")
    run.open("cpu")
    g, d = gh.build_models(cfg)
    good = _fake_state(1)
    good.update(config=cfg.to_dict(), generator=g.state_dict())
    torch.save(good, run.checkpoint_dir / "epoch_001.pt")
    torch.save({"generator_weights": {}}, run.checkpoint_dir / "epoch_002.pt")  # wrong keys
    torch.save({"epoch": 3, "obj": Path("x")}, run.checkpoint_dir / "epoch_003.pt")  # an object
    (run.checkpoint_dir / "epoch_004.pt").write_bytes(b"\x80\x02K\x07.")  # a pickled bare 7
    (run.checkpoint_dir / "epoch_005.pt").write_bytes(b"garbage")
    assert run.load_checkpoint()["epoch"] == 1
    out = capsys.readouterr().out
    assert "weights_only" not in out and "epoch_005.pt" in out and "epoch_002.pt" in out
    assert "not a checkpoint written by train()" in out and "Python objects" in out
    assert "damaged" in out
    loaded = gh.tracking.load_generator(run.path)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in g.state_dict().items())


def test_resume_with_fewer_epochs_than_done_is_refused(mnist_ready, small_cfg, tmp_path):
    """Point 16: 'after epoch 2 of 1' and hyperparameters.json rewritten to say 1."""
    cfg = small_cfg.replace(epochs=2, wandb_mode="disabled")
    data = gh.load_dataset(cfg)
    gh.train(cfg, data, gh.start_run(cfg, "e", str(tmp_path), "r"), progress=False)
    info = (tmp_path / "e" / "r" / "hyperparameters.json").read_text()
    fewer = cfg.replace(epochs=1)
    with pytest.raises(ValueError, match="epochs=1 .* already trained 2 epochs"):
        gh.train(fewer, data, gh.start_run(fewer, "e", str(tmp_path), "r", resume=True), progress=False)
    assert (tmp_path / "e" / "r" / "hyperparameters.json").read_text() == info
