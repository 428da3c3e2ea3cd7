"""Training: batches, what D is shown, out-of-memory advice, divergence, per-layer gradients
and the WGAN terms in the history, and the speed switches (timings: `python benchmarks/bench.py`)."""
import importlib
import json
import math

import pytest
from pathlib import Path
import torch

import gan_helpers as gh
from gan_helpers import RunConfig, load_dataset
from gan_helpers.train import DivergenceError, prepare, speed_settings, train_epoch


STEPS = 3


def losses_after(cfg, data):
    gan, data = prepare(cfg.validate(), data)
    stats = train_epoch(cfg, gan, data, max_steps=STEPS)
    return gan, stats.d_sums[0].item() / STEPS, stats.g_sums[0].item() / STEPS  # mean d_loss, g_loss


@pytest.fixture(scope="module")
def mnist():
    cfg = RunConfig(max_images=256, batch_size=32, device="cpu").validate()
    return cfg, load_dataset(cfg)


def test_automatic_switches_on_cpu_are_the_plain_path(mnist):
    cfg, _ = mnist
    assert speed_settings(cfg, torch.device("cpu")) == dict(
        channels_last=False, compile=False, fused_optimizer=False, cudnn_benchmark=False)
    assert speed_settings(cfg, torch.device("cuda"))["channels_last"] is True  # and fused, cudnn


@pytest.mark.parametrize("changes", [dict(channels_last=True), dict(fused_optimizer=True),
                                     dict(cudnn_benchmark=True)], ids=str)
def test_exact_options_match_the_baseline(mnist, changes):
    cfg, data = mnist
    _, d0, g0 = losses_after(cfg.replace(precision="fp32"), data)
    t, d1, g1 = losses_after(cfg.replace(precision="fp32", **changes), data)
    assert all(t.speed[k] == v for k, v in changes.items())
    if changes.get("channels_last"):
        assert t.g.net[4].weight.is_contiguous(memory_format=torch.channels_last)
    if changes.get("fused_optimizer"):
        assert t.opt_g.defaults["fused"] is True
    # the same maths; channels_last picks other conv kernels (another summation order)
    assert d1 == pytest.approx(d0, rel=2e-2) and g1 == pytest.approx(g0, rel=2e-2)


def test_automatic_precision_follows_the_hardware():
    from gan_helpers.train import autocast_dtype, cpu_has_bf16
    expected = torch.bfloat16 if cpu_has_bf16() else None
    assert autocast_dtype("auto", torch.device("cpu")) is expected
    assert autocast_dtype("fp32", torch.device("cpu")) is None


def test_bf16_autocast_stays_close(mnist):
    cfg, data = mnist
    _, d0, g0 = losses_after(cfg.replace(precision="fp32"), data)
    t, d1, g1 = losses_after(cfg.replace(precision="bf16"), data)
    assert t.amp_dtype == torch.bfloat16
    assert d1 == pytest.approx(d0, rel=0.1) and g1 == pytest.approx(g0, rel=0.1)


def test_fp16_on_cpu_is_refused_with_the_reason(mnist):
    cfg, data = mnist
    with pytest.raises(ValueError, match="fp16' needs a CUDA GPU"):
        prepare(cfg.replace(precision="fp16"), data)


def test_compile_switch_compiles_the_real_steps():
    """torch.compile on the small 2D models (a C++ build on the CPU: the slowest test here)."""
    cfg = RunConfig(dataset="ring8", max_images=256, batch_size=64, noise_dim=2, device="cpu")
    data = load_dataset(cfg.validate())
    _, d0, g0 = losses_after(cfg, data)
    torch._dynamo.reset()
    t, d1, g1 = losses_after(cfg.replace(compile=True), data)
    assert t.speed["compile"]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 2  # G and D were compiled
    assert d1 == pytest.approx(d0, rel=1e-3) and g1 == pytest.approx(g0, rel=1e-3)


def test_wgan_gp_epoch_logs_critic_terms_and_per_layer_gradients(tmp_path):
    cfg = gh.RunConfig(dataset="ring8", loss="wgan-gp", epochs=2, max_images=1024,
                       batch_size=64, noise_dim=2, device="cpu", wandb_mode="disabled")
    run = gh.start_run(cfg, "gp", str(tmp_path), "r")
    history = gh.train(cfg, gh.load_dataset(cfg), run, progress=False)
    saved = json.loads((run.path / "training_metrics.json").read_text())  # strict JSON
    for key in ("gp", "grad_norm", "wasserstein"):
        assert len(saved[key]) == 2 and all(math.isfinite(v) for v in saved[key]), key
    assert all(v >= 0 for v in saved["gp"]) and all(v > 0 for v in saved["grad_norm"])
    layers_g = [k for k in saved if k.startswith("grad/G/")]
    layers_d = [k for k in saved if k.startswith("grad/D/")]
    assert len(layers_g) == 4 and len(layers_d) == 4  # 3 hidden + output Linear each
    for key in layers_g + layers_d:
        assert len(saved[key]) == 2 and all(v > 0 and math.isfinite(v) for v in saved[key]), key
    assert history["epoch"] == [1, 2]
    assert saved[layers_d[0]] == history[layers_d[0]]


# D at lr 9e-3 against a G at 1e-7: D(G(z)) hits 0 after the first epoch and G's loss explodes.
# Unrolled GAN's small G, narrowed, at batch 4: 500 G steps take a few seconds on a CPU.
DIVERGING = dict(preset="unrolled_gan", g_channels=[16, 8, 8, 4], batch_size=4, lr_d=9e-3,
                 lr_g=1e-7, precision="fp32", device="cpu", wandb_mode="disabled")


def test_divergence_stops_with_advice_and_keeps_the_good_checkpoint(mnist_ready, tmp_path):
    """D wins from epoch 2 on, 64 G steps an epoch: the run stops once D has won for 500 G
    steps (epoch 9) and says what to try."""
    cfg = RunConfig(max_images=256, epochs=12, **DIVERGING).validate()
    run = gh.start_run(cfg, "diverge", str(tmp_path), "r")
    with pytest.raises(DivergenceError) as err:
        gh.train(cfg, gh.load_dataset(cfg), run, progress=False)
    message = str(err.value)
    assert "diverged at epoch 9: the discriminator won outright for 8 epochs, 512 G steps" in message
    for knob in ("lr_d", "label_smoothing", "instance_noise", "wgan-gp"):
        assert knob in message
    kept = run.checkpoints()
    assert kept, "the last good checkpoint must be kept"
    state = torch.load(kept[-1], weights_only=True)
    assert all(torch.isfinite(t).all() for t in state["generator"].values() if t.is_floating_point())


def test_a_small_folder_is_not_stopped_after_a_few_steps(mnist_ready):
    """Notebook 05's demo folder, 128 images at batch 64, is 2 G steps an epoch: D winning
    for 3 epochs is 6 steps, no evidence of divergence (it stopped the demo at epoch 44).
    Here 8 images at batch 4: D has won from epoch 8 to 20, 26 G steps, and the run goes on."""
    cfg = RunConfig(max_images=8, epochs=20, **DIVERGING).validate()
    history = gh.train(cfg, gh.load_dataset(cfg), progress=False)
    assert len(history["epoch"]) == 20
    assert max(history["d_fake"][7:]) < 0.01 and min(history["g_loss"][7:]) > 6  # D won outright
    assert history["d_wins_steps"] >= 13 * 2


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


def _d_inputs(cfg):
    """Every batch D saw in one epoch of a real run, in call order (real, fake, fake per step)."""
    g, d = gh.build_models(cfg)
    seen = []
    d.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    gh.train(cfg, gh.load_dataset(cfg), models=(g, d), progress=False)
    return seen


def test_train_shows_d_erased_reals_but_untouched_fakes(mnist_ready, small_cfg):
    """The leaky kind on reals only: a 14x14 block of exact 0.0 (mid grey) in every real image,
    a value MNIST's [-1, 1] pixels (k / 127.5 - 1) never take; fakes come straight from G."""
    seen = _d_inputs(small_cfg.replace(augment="erase", max_images=128))
    reals, fakes = seen[0::3], seen[1::3]
    assert all(((x == 0).flatten(1).sum(1) >= 14 * 14).all() for x in reals)
    assert not any((x == 0).flatten(1).sum(1).ge(14 * 14).any() for x in fakes)


def test_train_gives_diffaug_to_reals_and_fakes_alike(mnist_ready, small_cfg):
    """In a real (fp32, seeded) run, D sees translated reals and fakes: DiffAugment's zero fill
    gives exact 0.0 border rows/columns, which neither MNIST's reals (k / 127.5 - 1 after a
    brightness shift) nor G's tanh outputs take by themselves, at most 3 of them (the reach);
    with 1 - 1/49 of shifts non-zero, every batch of 64 has such images."""
    seen = _d_inputs(small_cfg.replace(augment="diffaug", max_images=128, precision="fp32"))
    assert len(seen) == 2 * 3  # 2 steps x (real, fake for D, fake for G)
    for x in seen:
        blank_rows = (x == 0).all(dim=(1, 3))
        blank_cols = (x == 0).all(dim=(1, 2))
        edge = blank_rows[:, [0, -1]].any(1) | blank_cols[:, [0, -1]].any(1)
        assert edge.sum() >= 32
        assert blank_rows.sum(1).max() <= 3 and blank_cols.sum(1).max() <= 3


def test_cuda_out_of_memory_is_answered_with_what_to_lower(mnist_ready, small_cfg):
    """A CPU cannot run out of CUDA memory, so the error is raised where a real one surfaces
    (inside the epoch loop, here from a callback); the answer is the user-facing part."""
    def oom(state):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with pytest.raises(RuntimeError, match=r"batch_size=64.*Lower batch_size first.*batch_size=32"
                                           r".*g_channels / d_channels.*precision='auto'"):
        gh.train(small_cfg, gh.load_dataset(small_cfg), callbacks=[oom], progress=False)


# ---- issue 14: divergence by an exploding loss; weights' origin -------------------------
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


# ---- per-step losses ---------------------------------------------------------------------
@pytest.mark.parametrize("critic_steps", [1, 2])
def test_every_steps_loss_is_kept_and_averages_to_the_epoch_mean(mnist, critic_steps):
    """256 images / batch 32 = 8 D steps an epoch; G steps every critic_steps of them."""
    cfg, data = mnist
    cfg = cfg.replace(epochs=2, n_critic=critic_steps)
    history = gh.train(cfg, data, progress=False)
    assert [len(v) for v in history["step_d_loss"]] == [8, 8]
    assert [len(v) for v in history["step_g_loss"]] == [8 // cfg.critic_steps] * 2
    for i in range(2):  # the same numbers as the epoch means, not a second measurement
        assert sum(history["step_d_loss"][i]) / 8 == pytest.approx(history["d_loss"][i], rel=1e-5)
        steps_g = history["step_g_loss"][i]
        assert sum(steps_g) / len(steps_g) == pytest.approx(history["g_loss"][i], rel=1e-5)


def attribute_calls(function):
    """Names of the methods a function's source calls (x.tolist() -> 'tolist')."""
    import ast
    import inspect
    import textwrap
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return [n.func.attr for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]


def test_the_steps_never_wait_for_the_device_and_the_epoch_reads_it_once():
    """Reading a device number (.item(), .tolist(), .cpu(), float(t)) makes the host wait
    for the GPU; the step code does none, run_epoch does one .tolist() for everything."""
    t = importlib.import_module("gan_helpers.train")  # gh.train is the function
    reads = {"item", "tolist", "cpu", "numpy"}
    for function in (t.d_step, t.g_step, t.train_epoch, t.stack_rows, t.d_view):
        assert not reads & set(attribute_calls(function)), function.__name__
    assert [c for c in attribute_calls(t.run_epoch) if c in reads] == ["tolist"]


def test_the_look_inside_cell_prints_the_real_steps(capsys):
    import inspect
    t = importlib.import_module("gan_helpers.train")  # gh.train is the function
    gh.show_training_step()
    out = capsys.readouterr().out
    assert inspect.getsource(t.d_step) in out and inspect.getsource(t.g_step) in out
    assert "gan_helpers/train.py, line" in out


def test_notebook_01s_walkthrough_quotes_the_printed_steps_in_their_order():
    """Issue 36: every line of code the walkthrough quotes is in d_step or g_step as printed
    (`...` stands for arguments left out), and the quotes of each step come in its order."""
    import inspect
    import json
    import re
    t = importlib.import_module("gan_helpers.train")
    nb = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / "01_mnist_dcgan_baseline.ipynb").read_text())
    text = next("".join(c["source"]) for c in nb["cells"] if c.get("id") == "core-look-inside-walkthrough")
    for step, part in zip((t.d_step, t.g_step), text.split("**`g_step`")):
        source, at = inspect.getsource(step), 0
        for quote in re.findall(r"^\d+\.\s+`([^`]+)`", part, flags=re.M):  # each numbered item's first quote
            pieces = [p.strip(" ,") for p in quote.split("...") if p.strip(" ,)")]
            found = source.find(pieces[0], at)
            assert found >= 0, f"{step.__name__}: {quote!r} is not in the printed code after what came before"
            assert all(p in source for p in pieces), (step.__name__, quote)
            at = found


def test_optimizers_use_the_betas_as_the_text_says():
    """Notebook 03: Adam uses both betas, SGD the first as momentum, RMSProp neither."""
    from gan_helpers.train import make_optimizer
    w = [torch.nn.Parameter(torch.zeros(3))]
    sgd = make_optimizer("sgd", w, 0.01, (0.5, 0.999)).param_groups[0]
    assert sgd["momentum"] == 0.5 and sgd["lr"] == 0.01
    adam = make_optimizer("adam", w, 0.01, (0.5, 0.9)).param_groups[0]
    assert adam["betas"] == (0.5, 0.9)
    rms = make_optimizer("rmsprop", w, 0.01, (0.5, 0.999)).param_groups[0]
    assert rms["momentum"] == 0 and rms["alpha"] == 0.99


# ---- issue 11: notebook 01's defaults learn digits, the seeds' settings collapse ----------
def _after_150_steps(**changes):
    """Notebook 01's defaults (tf_tutorial, BCE), shrunk to 150 steps of batch 64 on the
    first 9,600 MNIST digits, in fp32 (the same on every CPU), seeded: class coverage,
    class KL and the spread of 1,000 samples (mean per-pixel std, in [-1, 1] units)."""
    cfg = RunConfig(max_images=150 * 64, batch_size=64, epochs=1, precision="fp32",
                    device="cpu", seed=0, wandb_mode="disabled", **changes).validate()
    g, d = gh.build_models(cfg)
    gh.train(cfg, load_dataset(cfg), models=(g, d), progress=False)
    x = gh.generate(g, 1000, seed=0)
    return gh.metrics.class_coverage(x), gh.metrics.class_kl(x), float(x.std(0).mean())


def test_default_baseline_learns_varied_digits(mnist_ready):
    """Measured at these settings (seeds 0, 1, 2): coverage 10/10, class KL 0.12-0.20,
    spread 0.30-0.32 with the defaults; the old defaults (PyTorch init, Adam 1e-4 with
    betas (0.9, 0.999)) gave 1/10, KL 2.30, spread 0.09: one blob for every z."""
    coverage, kl, spread = _after_150_steps()
    assert coverage >= 8 and kl < 0.8 and spread > 0.2, (coverage, kl, spread)


def test_the_seeds_optimiser_settings_collapse_in_pytorch(mnist_ready):
    """The lesson notebook 01 states: the TF tutorial's Adam (1e-4, betas (0.9, 0.999)) with
    PyTorch's default init collapses to one digit-shaped blob."""
    coverage, kl, spread = _after_150_steps(init="default", lr_g=1e-4, lr_d=1e-4,
                                            betas_g=(0.9, 0.999), betas_d=(0.9, 0.999))
    assert coverage <= 3 and spread < 0.15, (coverage, kl, spread)


# ---- issue 27: an interrupted G step, host syncs counted ---------------------------------------
def test_an_interrupt_inside_gs_step_leaves_d_trainable(mnist, monkeypatch, capsys):
    """Ctrl-C (or CUDA out of memory) while G steps: D's gradients are switched back on, so the
    next gh.train with the same models trains instead of failing with 'does not require grad'."""
    cfg, data = mnist
    cfg = cfg.replace(epochs=1)
    G, D = gh.build_models(cfg)
    losses = importlib.import_module("gan_helpers.losses")

    def interrupted(*args):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(losses.BCE, "g_loss", interrupted)  # what g_step calls (gan.loss.g_loss)
        gh.train(cfg, data, models=(G, D), progress=False)
    assert "Interrupted" in capsys.readouterr().out
    assert all(p.requires_grad for p in D.parameters())
    history = gh.train(cfg, data, models=(G, D), progress=False)
    assert len(history["epoch"]) == 1 and math.isfinite(history["d_loss"][0])


class HostReads(torch.utils._python_dispatch.TorchDispatchMode):
    """Counts the operator behind .item(), int(t), float(t), bool(t): reading one number of a
    tensor on the host, which on a GPU waits for it (what torch.cuda.set_sync_debug_mode
    reports there). A stand-in that counts the same reads on the CPU."""
    def __init__(self):
        super().__init__()
        self.reads = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.reads += func is torch.ops.aten._local_scalar_dense.default
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("optimizer, augment, reads_per_step", [
    ("adam", "none", 0), ("adam", "diffaug", 0), ("sgd", "diffaug", 0),
    ("rmsprop", "none", 2)])  # no fused RMSProp: the scaler asks the host once per optimiser step
def test_host_reads_per_step_under_a_grad_scaler(mnist, optimizer, augment, reads_per_step):
    """The steps of an fp16 run (a CPU grad scaler stands in for the GPU's) read no device
    number on the host: DiffAugment's shifts included, and the scaler's inf check stays on
    the device with a fused optimiser."""
    cfg, data = mnist
    cfg = cfg.replace(optimizer=optimizer, augment=augment, fused_optimizer=True).validate()
    gan, data = prepare(cfg, data)
    gan.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 8)
    train_epoch(cfg, gan, data, max_steps=1)  # the first step sets up lazy state
    with HostReads() as counter:
        train_epoch(cfg, gan, data, max_steps=STEPS)
    assert counter.reads == reads_per_step * STEPS


def test_divergence_advice_works_for_the_preset_in_use():
    """dcgan64's D has BatchNorm, which loss='wgan-gp' refuses: the advice says what else to set,
    and following it gives a config that validates."""
    t = importlib.import_module("gan_helpers.train")
    for preset in ("tf_tutorial", "dcgan64"):
        cfg = RunConfig(preset=preset, image_size=28 if preset == "tf_tutorial" else 64,
                        channels=1 if preset == "tf_tutorial" else 3).validate()
        advice = t.wgan_gp_advice(cfg)
        changes = dict(loss="wgan-gp")
        if "d_norm='instance'" in advice:
            changes["d_norm"] = "instance"
        cfg.replace(**changes).validate()
        with pytest.raises(ValueError):
            if preset == "dcgan64":
                cfg.replace(loss="wgan-gp").validate()
            else:
                raise ValueError("tf_tutorial takes loss='wgan-gp' as it is")
    assert "d_norm" not in t.wgan_gp_advice(RunConfig().validate())
