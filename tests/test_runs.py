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
from gan_helpers.train import averaged_generator


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
    # an earlier in-process wandb.init leaves WANDB_SERVICE here: a kernel that inherits it
    # logs through *this* process's W&B service, which outlives the SIGKILL below and keeps
    # the run "in use". A real disconnect takes the kernel's own service with it.
    env.pop("WANDB_SERVICE", None)
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
    assert gh.runs.epoch_files(run.images_dir, "png")[-1].name == "epoch_1000.png"


def test_two_runs_with_one_name_get_two_folders(small_cfg, tmp_path):
    """Point 3: both pick "r" before either creates it; each must still get its own folder."""
    cfg = small_cfg.replace(wandb_mode="disabled")
    first = gh.start_run(cfg, "e", str(tmp_path), "r")
    second = gh.start_run(cfg.replace(lr_g=3e-4), "e", str(tmp_path), "r")
    first.open("cpu")
    second.open("cpu")
    assert first.path != second.path and second.path.name == "r-2"
    assert json.loads((first.path / "hyperparameters.json").read_text())["config"]["lr_g"] == cfg.lr_g
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
            f"from test_runs import _save_on_a_full_disk; _save_on_a_full_disk({str(tmp_path)!r})")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, WANDB_MODE="disabled"))
    checkpoints = tmp_path / "e" / "r" / "checkpoints"
    assert "the disk is full" in out.stdout, out.stdout + out.stderr
    assert str(checkpoints) in out.stdout and "Free space" in out.stdout
    assert "enforce fail" not in out.stdout
    assert sorted(p.name for p in checkpoints.iterdir()) == ["epoch_001.pt"]  # no .tmp left
    assert torch.load(checkpoints / "epoch_001.pt", weights_only=True)["epoch"] == 1


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
    loaded = gh.runs.load_generator(run.path)
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


# ---- issue 27: resuming on another device, precision or memory layout; the divergence count ----
def one_epoch_run(cfg, tmp_path, name="r"):
    cfg = cfg.replace(wandb_mode="disabled", precision="fp32")
    run = gh.start_run(cfg, "e", str(tmp_path), name)
    gh.train(cfg, gh.load_dataset(cfg), run, progress=False)
    return cfg, run


def test_resume_of_a_checkpoint_from_a_cuda_machine_on_the_cpu(mnist_ready, small_cfg, tmp_path, capsys):
    """Stand-in for a GPU's checkpoint: the loop's random state as a CUDA generator writes it
    (16 bytes: seed and offset) in place of the CPU's 5,056. The run resumes, and says what
    is no longer exact."""
    cfg, run = one_epoch_run(small_cfg, tmp_path)
    path = run.checkpoints()[-1]
    state = torch.load(path, weights_only=True)
    assert state["rng"]["loop"].numel() == 5056
    state["rng"]["loop"] = torch.arange(16, dtype=torch.uint8)
    torch.save(state, path)
    more = cfg.replace(epochs=2)
    history = gh.train(more, gh.load_dataset(more), gh.start_run(more, "e", str(tmp_path), "r", resume=True),
                       progress=False)
    assert history["epoch"] == [1, 2]
    assert "written on another kind of device" in capsys.readouterr().out


def test_resume_across_precisions_keeps_or_starts_the_grad_scaler(mnist_ready, small_cfg, tmp_path, capsys):
    """A bf16/fp32 checkpoint (its scaler disabled, state {}) resumed where fp16 scales the
    losses (a T4; a CPU grad scaler stands in) starts a fresh scaler, and the reverse ignores
    the saved scale."""
    from gan_helpers.train import prepare
    cfg, run = one_epoch_run(small_cfg, tmp_path)
    saved = run.load_checkpoint()
    assert saved["scaler"] == {}
    gan, _ = prepare(cfg, gh.load_dataset(cfg))
    gan.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    resumed = gh.start_run(cfg, "e", str(tmp_path), "r", resume=True)
    resumed.restore(gan, saved)
    assert gan.scaler.get_scale() == 2.0 ** 10 and "fresh one starts now" in capsys.readouterr().out
    saved["scaler"] = torch.amp.GradScaler("cpu", init_scale=2.0 ** 5).state_dict()
    gan, _ = prepare(cfg, gh.load_dataset(cfg))  # scaler disabled: fp32
    resumed.restore(gan, saved)
    assert not gan.scaler.is_enabled()


def test_resume_with_channels_last_switched_lays_out_adams_state_as_the_weights(mnist_ready, small_cfg, tmp_path):
    """CUDA's fused Adam needs its running means laid out as the weights; switching
    channels_last on resume must not leave the saved layout behind."""
    from gan_helpers.train import prepare
    cfg, run = one_epoch_run(small_cfg.replace(channels_last=True), tmp_path)
    saved = run.load_checkpoint()
    plain = cfg.replace(channels_last=False)
    gan, _ = prepare(plain, gh.load_dataset(plain))
    gh.start_run(plain, "e", str(tmp_path), "r", resume=True).restore(gan, saved)
    checked = 0
    for opt in (gan.opt_g, gan.opt_d):
        for p, state in opt.state.items():
            for key in ("exp_avg", "exp_avg_sq"):
                assert state[key].stride() == p.stride(), key
                checked += p.dim() == 4
    assert checked > 0  # conv weights were among them


def test_resumed_run_stops_for_divergence_where_an_uninterrupted_one_does(mnist_ready, tmp_path):
    """The count of G steps in a row that D has won is checkpointed: a run resumed in the middle
    of such a streak stops at the same epoch as the run straight through."""
    from gan_helpers.train import DivergenceError
    from test_train import DIVERGING
    cfg = gh.RunConfig(max_images=256, epochs=12, **DIVERGING).validate()
    data = gh.load_dataset(cfg)
    with pytest.raises(DivergenceError) as straight:
        gh.train(cfg, data, gh.start_run(cfg, "d", str(tmp_path), "straight"), progress=False)
    stopped_at = int(straight.value.args[0].split("epoch ")[1].split(":")[0])
    assert stopped_at >= 3
    first = cfg.replace(epochs=stopped_at - 1)
    history = gh.train(first, data, gh.start_run(first, "d", str(tmp_path), "resumed"), progress=False)
    assert 0 < history["d_wins_steps"] < 500  # the streak the checkpoint carries, short of the stop
    with pytest.raises(DivergenceError) as resumed:
        gh.train(cfg, data, gh.start_run(cfg, "d", str(tmp_path), "resumed", resume=True), progress=False)
    assert f"diverged at epoch {stopped_at}:" in str(resumed.value)


# ---- issue 22: checkpoints by wall time ----------------------------------------------------
class FakeClock:
    """Each read is `step` seconds after the last: a run whose epochs take `step` seconds."""

    def __init__(self, step):
        self.now, self.step = 0.0, step

    def __call__(self):
        self.now += self.step
        return self.now


class StopAt:
    """A callback that stops training during epoch `epoch` (before it is recorded or saved),
    as a kill would: train() treats it as Ctrl-C."""

    def __init__(self, epoch):
        self.epoch = epoch

    def __call__(self, state):
        if state.epoch == self.epoch:
            raise KeyboardInterrupt


def timed_run(cfg, tmp_path, name, callbacks=(), resume=False):
    run = gh.start_run(cfg, "e", str(tmp_path), name, resume=resume)
    run.clock = FakeClock(25.0)  # 25 s an epoch, a checkpoint every minute
    gh.train(cfg, gh.load_dataset(cfg), run, callbacks=callbacks, progress=False)
    return run


def test_checkpoints_are_saved_by_wall_time_plus_the_first_and_last(mnist_ready, small_cfg, tmp_path):
    """25 s epochs, checkpoint_minutes=1: saved after epoch 1 (first), 4 (75 s later),
    7 (75 s later) and 8 (the last); the newest two are kept."""
    cfg = small_cfg.replace(epochs=8, checkpoint_minutes=1.0, wandb_mode="disabled", precision="fp32")
    saved = []
    run = gh.start_run(cfg, "e", str(tmp_path), "r")
    run.clock, save = FakeClock(25.0), run.save_checkpoint
    run.save_checkpoint = lambda state, epoch: saved.append(epoch) or save(state, epoch)
    gh.train(cfg, gh.load_dataset(cfg), run, progress=False)
    assert saved == [1, 4, 7, 8]
    assert [p.name for p in run.checkpoints()] == ["epoch_007.pt", "epoch_008.pt"]


def test_resume_from_a_time_based_checkpoint_equals_an_uninterrupted_run(mnist_ready, small_cfg, tmp_path):
    """Stopped during epoch 5, the newest checkpoint is epoch 4's, saved because a minute had
    passed (not a last epoch); resumed from it, epoch 6 ends with the same weights as a run
    that was never stopped."""
    cfg = small_cfg.replace(epochs=6, checkpoint_minutes=1.0, wandb_mode="disabled", precision="fp32")
    straight = timed_run(cfg, tmp_path, "straight")
    cut = timed_run(cfg, tmp_path, "cut", callbacks=[StopAt(5)])
    assert [p.name for p in cut.checkpoints()] == ["epoch_001.pt", "epoch_004.pt"]
    resumed = timed_run(cfg, tmp_path, "cut", resume=True)
    a = torch.load(straight.checkpoints()[-1], weights_only=True)
    b = torch.load(resumed.checkpoints()[-1], weights_only=True)
    assert a["epoch"] == b["epoch"] == 6
    for key in ("generator", "discriminator"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), (key, name)
    assert a["history"]["g_loss"] == b["history"]["g_loss"]


def test_quick_mode_saves_a_checkpoint_every_epoch():
    """The kill-and-resume test kills notebook 01 (quick mode) after its epoch-2 checkpoint."""
    assert gh.RunConfig(epochs=5).quick(quiet=True).checkpoint_minutes == 0


def test_a_checkpoint_from_before_a_new_config_field_still_resumes(mnist_ready, small_cfg, tmp_path):
    """A field added to RunConfig since the run began (r1_gamma, pack, ...) counts as its
    default for the old checkpoint, instead of refusing to resume it."""
    cfg, run = one_epoch_run(small_cfg, tmp_path)
    path = run.checkpoints()[-1]
    state = torch.load(path, weights_only=True)
    del state["config"]["r1_gamma"]
    torch.save(state, path)
    more = cfg.replace(epochs=2)
    history = gh.train(more, gh.load_dataset(more), gh.start_run(more, "e", str(tmp_path), "r", resume=True),
                       progress=False)
    assert history["epoch"] == [1, 2]


def test_resume_may_change_how_often_checkpoints_are_saved(small_cfg, tmp_path):
    """checkpoint_minutes changes when the run saves, not what it computes: a resume with
    another value (Drive is slower than expected, say) is accepted."""
    run = gh.start_run(small_cfg.replace(checkpoint_minutes=10.0), "e", str(tmp_path), "r")
    run.check_resumable(small_cfg.replace(checkpoint_minutes=3.0).to_dict())
    with pytest.raises(ValueError, match="steps"):
        run.check_resumable(small_cfg.replace(steps=500).to_dict())


# ---- ema: a moving average of G's weights (issue 33) ----------------------------------------
def test_ema_update_is_the_exponential_moving_average_of_gs_weights():
    """First update copies G; each later one moves the average (1 - decay) of the way to G."""
    cfg = gh.RunConfig(ema=0.9, device="cpu").validate()
    g, _ = gh.build_models(cfg)
    avg = averaged_generator(g, cfg.ema)
    first = {k: v.clone() for k, v in g.state_dict().items()}
    avg.update_parameters(g)
    with torch.no_grad():
        for p in g.parameters():
            p.add_(1.0)
    avg.update_parameters(g)
    for name, value in avg.module.state_dict().items():
        if value.is_floating_point() and "running" not in name:
            assert torch.allclose(value, first[name] + 0.1, atol=1e-6), name
    assert averaged_generator(g, 0.0) is None


def test_ema_run_samples_from_the_average_and_resumes_exactly(mnist_ready, small_cfg, tmp_path):
    """With ema on, the checkpoint holds the averaged G; a run stopped in epoch 2 and resumed
    ends with the same average as one never stopped, and load_generator (so samples_of, the
    spectra and the report) returns the average, not the raw G."""
    cfg = small_cfg.replace(epochs=3, ema=0.9, wandb_mode="disabled", precision="fp32")
    straight = timed_run(cfg, tmp_path, "straight")
    timed_run(cfg, tmp_path, "cut", callbacks=[StopAt(2)])
    resumed = timed_run(cfg, tmp_path, "cut", resume=True)
    a = torch.load(straight.checkpoints()[-1], weights_only=True)
    b = torch.load(resumed.checkpoints()[-1], weights_only=True)
    assert int(a["generator_ema"]["n_averaged"]) == 3 * (256 // 64)  # one update per G step
    for name, tensor in a["generator_ema"].items():
        assert torch.equal(tensor, b["generator_ema"][name]), name
    g = gh.load_generator(straight.path)
    ema_weights = {k[len("module."):]: v for k, v in a["generator_ema"].items() if k.startswith("module.")}
    for name, tensor in g.state_dict().items():
        assert torch.equal(tensor, ema_weights[name]), name
    assert any(not torch.equal(a["generator"][k], ema_weights[k]) for k in ema_weights)


def test_ema_out_of_range_is_refused_before_training():
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="ema="):
            gh.RunConfig(ema=bad).validate()
