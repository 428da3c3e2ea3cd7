"""train(): the one training loop for every loss family.

Per epoch: shuffled on-device batches; n_critic discriminator steps per generator step;
losses and D outputs summed on the device and read once (no host sync per step);
honest wall seconds; a fixed-noise snapshot; an atomic checkpoint; callbacks for
metrics; a guard that stops (or warns) when training diverges.
"""
import os
import random
import time
from contextlib import nullcontext
from types import SimpleNamespace

import numpy as np
import torch
from tqdm.auto import tqdm

from . import losses
from .augment import augment_both, augment_real
from .colab import pick_device
from .data import batches, steps_per_epoch
from .models import build_models

STATS = ("d_loss", "g_loss", "d_real", "d_fake", "gp", "grad_norm")
D_WINS_EPOCHS = 3  # epochs in a row of D(G(z)) ~ 0 with an exploding G loss = divergence
# A loss that grows by orders of magnitude is divergence too. BCE, hinge and LSGAN losses of a
# healthy run stay below ~20 (per-sample losses of a probability or a margin), so an epoch mean
# beyond 1e3 means the weights blew up. WGAN critic values drift freely (only differences mean
# something), so there the bound is relative: 1e4 x the first epoch's magnitude (at least 1).
EXPLODED_LOSS = 1e3
EXPLODED_RATIO_WGAN = 1e4


class DivergenceError(RuntimeError):
    pass


def autocast_dtype(precision, device, points=False):
    """None (fp32) or the autocast dtype; refuses what the hardware cannot do, with why.
    `points`: the tiny 2D MLPs, which gain nothing from bf16 and need fp32's resolution."""
    cuda = device.type == "cuda"
    if precision == "auto":
        if points:
            return None
        if not cuda:  # bf16 pays on CPUs with native bf16 units (AVX512-BF16, AMX), not others
            return torch.bfloat16 if device.type == "cpu" and cpu_has_bf16() else None
        return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[auto_gpu_precision(device)]
    if precision == "fp32":
        return None
    if precision == "bf16":
        if cuda and cuda_capability(device) < (8, 0):
            major, minor = cuda_capability(device)
            raise ValueError(f"precision='bf16' needs a GPU of compute capability 8.0 or newer "
                             f"(A100, L4, H100); this one is {major}.{minor} (a Colab T4 is 7.5), where "
                             f"bf16 is only emulated and its convolutions are slow or fail. Use "
                             f"precision='fp16' (with a grad scaler) or 'auto'.")
        return torch.bfloat16
    if not cuda:
        raise ValueError(f"precision='fp16' needs a CUDA GPU; on {device.type} use 'fp32' or 'bf16'.")
    return torch.float16


def cuda_capability(device=None):
    """(major, minor) compute capability of the GPU (a T4 is (7, 5), an A100 (8, 0))."""
    return torch.cuda.get_device_capability(device)


def auto_gpu_precision(device=None):
    """What precision='auto' uses on this GPU: 'bf16' from compute capability 8.0 (native bf16
    units), 'fp16' + grad scaler on 7.x (tensor cores for fp16 only, e.g. Colab's T4), 'fp32'
    below. Not torch.cuda.is_bf16_supported(): it also answers True where bf16 is only emulated."""
    capability = cuda_capability(device)
    if capability >= (8, 0):
        return "bf16"
    return "fp16" if capability >= (7, 0) else "fp32"


def cpu_has_bf16():
    """Native bf16 matrix units on this CPU (Linux flags avx512_bf16 / amx_bf16).
    GAN_HELPERS_CPU_BF16=0 answers no, as on a CPU without them (to test that path)."""
    if os.environ.get("GAN_HELPERS_CPU_BF16", "").strip() == "0":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def speed_settings(cfg, device):
    """The speed switches, with None resolved to what pays on this device."""
    cuda = device.type == "cuda"

    def pick(value, default):
        return default if value is None else bool(value)

    return dict(channels_last=pick(cfg.channels_last, cuda and not cfg.is_points),
                compile=pick(cfg.compile, False),
                fused_optimizer=pick(cfg.fused_optimizer, cuda),
                cudnn_benchmark=pick(cfg.cudnn_benchmark, cuda))


def make_optimizer(name, params, lr, betas, fused=False):
    extra = {"fused": True} if fused else {}
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), **extra)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.SGD(params, lr=lr)


def new_history(device):
    return {"epoch": [], "d_loss": [], "g_loss": [], "d_real": [], "d_fake": [],
            "epoch_seconds": [], "device": str(device), "total_seconds": 0.0}


def record(history, row):
    """Append one epoch; keys first seen now get None for the epochs before, so every
    per-epoch list stays aligned with history['epoch']."""
    n = len(history["epoch"])
    for key, value in row.items():
        column = history.setdefault(key, [None] * n)
        column.append(value)
    for key, column in history.items():
        if isinstance(column, list) and len(column) == n:
            column.append(None)


def rng_state(gen):
    np_state = np.random.get_state()
    return {"python": random.getstate(), "torch": torch.get_rng_state(),
            "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "loop": gen.get_state()}


def set_rng_state(state, gen):
    random.setstate(_tuples(state["python"]))
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), *n[2:]))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    gen.set_state(state["loop"])


def _tuples(x):
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def setup(cfg, data, models=None):
    """Everything a run needs on its device: models (channels_last if on), data, optimisers,
    grad scaler, the loop's random generator and the compiled-or-not step functions.
    Shared by train() and the benchmark, so the benchmark times exactly what trains."""
    device = pick_device(cfg.device)
    amp_dtype = autocast_dtype(cfg.precision, device, points=cfg.is_points)
    speed = speed_settings(cfg, device)
    g, d = models if models is not None else build_models(cfg)
    g, d = g.to(device), d.to(device)
    if speed["channels_last"]:
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
    torch.backends.cudnn.benchmark = speed["cudnn_benchmark"]
    opt_g = make_optimizer(cfg.optimizer, g.parameters(), cfg.lr_g, cfg.betas_g, speed["fused_optimizer"])
    opt_d = make_optimizer(cfg.optimizer, d.parameters(), cfg.lr_d, cfg.betas_d, speed["fused_optimizer"])
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    gen = torch.Generator(device).manual_seed(cfg.seed)
    step_d, step_g = _make_steps(cfg, g, d, opt_g, opt_d, scaler, amp_dtype, gen, speed)
    return SimpleNamespace(device=device, amp_dtype=amp_dtype, speed=speed, g=g, d=d,
                           data=data.to(device), opt_g=opt_g, opt_d=opt_d, scaler=scaler,
                           gen=gen, step_d=step_d, step_g=step_g)


def run_epoch(t, cfg, noise_std=0.0, on_step=None, max_steps=None):
    """One pass over the data (or max_steps batches): a D step per batch and a G step every
    critic_steps batches. Returns the summed per-step stats, still on the device."""
    sums = torch.zeros(len(STATS), device=t.device)
    for i, real in enumerate(batches(t.data, cfg.batch_size, t.gen)):
        if max_steps is not None and i >= max_steps:
            break
        if t.speed["channels_last"]:
            real = real.contiguous(memory_format=torch.channels_last)
        g_turn = (i + 1) % cfg.critic_steps == 0
        fake, stats = t.step_d(real, noise_std, g_turn)
        if g_turn:
            stats = stats + t.step_g(fake, noise_std)
        # One grad-scaler update per iteration, after every optimiser of the iteration has
        # stepped (PyTorch's AMP recipe for several optimisers): an update after each step
        # would count every iteration twice towards the scale's growth.
        t.scaler.update()
        sums += stats
        if on_step is not None:
            on_step()
    return sums


def train(cfg, data, run=None, models=None, callbacks=(), progress=True):
    """Train a GAN on `data` as `cfg` says; returns the history (per-epoch lists).

    run: a tracking.Run (folder, checkpoints, W&B) or None for an in-memory run.
    models: (generator, discriminator) to train; built from cfg when None.
    callbacks: functions f(state) -> dict | None called after each epoch; the dict's
    values are recorded in the history (e.g. metrics every K epochs).
    """
    cfg.validate()
    try:
        t = setup(cfg, data, models)
    except torch.cuda.OutOfMemoryError as e:  # the data set or the networks do not fit
        raise RuntimeError(out_of_memory_advice(cfg)) from e
    device, g, d, gen, data = t.device, t.g, t.d, t.gen, t.data
    opt_g, opt_d, scaler = t.opt_g, t.opt_d, t.scaler
    fixed_noise = torch.randn(cfg.n_samples, cfg.noise_dim, generator=gen, device=device)
    history, start = new_history(device), 0

    saved = run.load_checkpoint() if run is not None and run.resume else None
    if saved is not None:
        run.check_resumable(saved["config"])
        check_epochs_left(cfg, saved["epoch"], run.path)  # before anything is rewritten
        g.load_state_dict(saved["generator"])
        d.load_state_dict(saved["discriminator"])
        opt_g.load_state_dict(saved["opt_g"])
        opt_d.load_state_dict(saved["opt_d"])
        scaler.load_state_dict(saved["scaler"])
        fixed_noise = saved["fixed_noise"].to(device)
        history, start = saved["history"], saved["epoch"]
        set_rng_state(saved["rng"], gen)
        print(f"Resuming {run.path} after epoch {start} of {cfg.epochs}.")
    weights = weights_origin(g, saved)
    if run is not None:
        run.open(device, parameters=[sum(p.numel() for p in m.parameters()) for m in (g, d)],
                 weights=weights)
    if run is not None and saved is None:
        run.save_snapshot(0, _sample(g, fixed_noise), _critic_for_plot(cfg, d))

    n_steps = steps_per_epoch(len(data), cfg.batch_size)
    bar = tqdm(total=cfg.epochs * n_steps, initial=start * n_steps, disable=not progress,
               desc="training", unit="step", dynamic_ncols=True)
    d_wins, started = 0, time.perf_counter() - history["total_seconds"]
    try:
        for epoch in range(start + 1, cfg.epochs + 1):
            g.train(), d.train()
            noise_std = cfg.instance_noise * (1 - (epoch - 1) / cfg.epochs)
            if cfg.lr_decay == "linear":  # as the WGAN-GP paper's CIFAR runs; set from the epoch, so resume-safe
                for opt, lr in ((opt_g, cfg.lr_g), (opt_d, cfg.lr_d)):
                    for group in opt.param_groups:
                        group["lr"] = lr * (1 - (epoch - 1) / cfg.epochs)
            t0 = time.perf_counter()
            sums = run_epoch(t, cfg, noise_std, on_step=bar.update)
            grad_names, grad_norms = layer_grad_norms(g, d)
            host = torch.cat([sums, grad_norms]).tolist()  # the one host sync per epoch
            means = _epoch_means(host[:len(STATS)], n_steps, cfg)
            if device.type == "cuda":
                torch.cuda.synchronize()
            row = dict(epoch=epoch, **means, epoch_seconds=time.perf_counter() - t0)
            d_wins, finite = _check_divergence(cfg, row, d_wins, first=_first_epoch(history, row))
            row.update(zip(grad_names, host[len(STATS):]))  # scaler.step unscaled fp16 grads
            bar.set_postfix(d_loss=f"{row['d_loss']:.3f}", g_loss=f"{row['g_loss']:.3f}",
                            s_per_epoch=f"{row['epoch_seconds']:.1f}")
            state = SimpleNamespace(epoch=epoch, generator=g, discriminator=d, cfg=cfg,
                                    history=history, device=device, run=run, data=data)
            for callback in callbacks:
                row.update(callback(state) or {})
            record(history, row)
            history["total_seconds"] = time.perf_counter() - started
            _count_trained(g, d, n_steps, run)
            if run is not None:
                snap = None
                if epoch % cfg.snapshot_every == 0 or epoch == cfg.epochs:
                    snap = run.save_snapshot(epoch, _sample(g, fixed_noise), _critic_for_plot(cfg, d))
                if finite:  # with on_divergence="warn", NaN weights never replace good ones
                    run.save_checkpoint(_checkpoint(cfg, epoch, g, d, opt_g, opt_d, scaler,
                                                    fixed_noise, history, gen), epoch)
                run.log_epoch(history, snap)
    except torch.cuda.OutOfMemoryError as e:
        raise RuntimeError(out_of_memory_advice(cfg)) from e
    except KeyboardInterrupt:  # a student stopping early still gets the figures
        print(f"Interrupted; the checkpoint after epoch {len(history['epoch'])} is kept "
              f"(resume=True continues from it).")
    finally:
        bar.close()
    seconds = sum(history["epoch_seconds"])
    history["images_per_second"] = n_steps * cfg.batch_size * len(history["epoch"]) / seconds \
        if seconds else None
    if run is not None:
        run.log_epoch(history)
        run.finish(history)
    return history


def out_of_memory_advice(cfg):
    """What to lower when CUDA runs out of memory (seed 001 fought a 24 GB card)."""
    return (f"CUDA ran out of memory at batch_size={cfg.batch_size}, image_size={cfg.image_size}, "
            f"precision={cfg.precision!r}. Lower batch_size first (halve it: "
            f"batch_size={max(cfg.batch_size // 2, 1)}), then the widths in g_channels / d_channels "
            f"or image_size; precision='auto' (bf16/fp16) halves activation memory. Restart the "
            f"runtime if later cells still fail. Checkpoints so far are kept: resume=True.")


def _make_steps(cfg, g, d, opt_g, opt_d, scaler, amp_dtype, gen, speed):
    """The discriminator and generator steps; each returns its stats as a device tensor.
    With compile on, the networks' forward passes are compiled (the gradient penalty's
    double backward runs the plain critic: compiled graphs do not support it)."""
    device = next(g.parameters()).device
    g_fwd, d_fwd = (torch.compile(g), torch.compile(d)) if speed["compile"] else (g, d)
    autocast = (lambda: torch.autocast(device.type, dtype=amp_dtype)) if amp_dtype else nullcontext
    zero = torch.zeros((), device=device)

    def d_view(x, std, real):
        """What D sees: the augmentation (flip and the leaky kinds on real images only,
        DiffAugment on both), then instance noise."""
        if real:
            x = augment_real(x, cfg.augment, gen)
        x = augment_both(x, cfg.augment, gen)
        return x + std * torch.randn(x.shape, device=x.device, generator=gen) if std else x

    def step_d(real, noise_std, keep_graph):
        z = torch.randn(real.shape[0], cfg.noise_dim, device=device, generator=gen)
        with autocast(), (nullcontext() if keep_graph else torch.no_grad()):
            fake = g_fwd(z)
        with autocast():
            real_scores = d_fwd(d_view(real, noise_std, real=True))
            fake_scores = d_fwd(d_view(fake.detach(), noise_std, real=False))
            loss = losses.d_loss(cfg.loss, real_scores.float(), fake_scores.float(),
                                 cfg.label_smoothing)
        gp = grad_norm = zero
        if cfg.loss == "wgan-gp":
            gp, grad_norm = losses.gradient_penalty(d, real.float(), fake.detach().float(), gen)
            loss = loss + cfg.gp_lambda * gp
        opt_d.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt_d)  # scaler.update() once per iteration, in run_epoch
        if cfg.loss == "wgan":
            with torch.no_grad():
                for p in d.parameters():
                    p.clamp_(-cfg.clip_value, cfg.clip_value)
        d_real = losses.score_to_probability(cfg.loss, real_scores.detach().float()).mean()
        d_fake = losses.score_to_probability(cfg.loss, fake_scores.detach().float()).mean()
        return fake, torch.stack([loss.detach(), zero, d_real, d_fake, gp.detach(), grad_norm])

    def step_g(fake, noise_std):
        d.requires_grad_(False)  # G's step needs no gradients for D's weights
        with autocast():
            loss = losses.g_loss(cfg.loss, d_fwd(d_view(fake, noise_std, real=False)).float())
        opt_g.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt_g)
        d.requires_grad_(True)
        return torch.stack([zero, loss.detach(), zero, zero, zero, zero])

    return step_d, step_g


def layer_grad_norms(g, d):
    """L2 norm of each layer's gradient (weights and bias together) from the last step's
    .grad, as (names "grad/G/<layer>" and "grad/D/<layer>", one device tensor): read with
    the epoch's one host sync, so no per-step cost."""
    names, norms = [], []
    for tag, net in (("G", g), ("D", d)):
        layers = {}
        for name, p in net.named_parameters():
            if p.grad is not None:
                layers.setdefault(name.rsplit(".", 1)[0], []).append(p.grad.detach().float().pow(2).sum())
        for layer, parts in layers.items():
            names.append(f"grad/{tag}/{layer}")
            norms.append(torch.stack(parts).sum().sqrt())
    device = next(g.parameters()).device
    return names, torch.stack(norms) if norms else torch.zeros(0, device=device)


def _epoch_means(sums, n_steps, cfg):
    g_steps = max(n_steps // cfg.critic_steps, 1)
    means = {k: v / n_steps for k, v in zip(STATS, sums)}
    means["g_loss"] = sums[1] / g_steps
    if cfg.loss != "wgan-gp":
        del means["gp"], means["grad_norm"]
    if cfg.loss in ("wgan", "wgan-gp"):
        means["wasserstein"] = means["d_real"] - means["d_fake"]
    return means


def _check_divergence(cfg, row, d_wins, first=None):
    """NaN/inf, a loss exploded by orders of magnitude, or D winning outright for
    D_WINS_EPOCHS epochs: stop (or warn) with advice. `first`: the run's first epoch row.
    Returns (epochs in a row D has won, whether this epoch's weights are worth keeping)."""
    values = [v for k, v in row.items() if isinstance(v, float)]
    bad = not all(np.isfinite(values))
    exploded = None if bad else _exploded(cfg, row, first or row)
    if cfg.loss == "bce" and row["d_fake"] < 0.01 and row["g_loss"] > 6:
        d_wins += 1
    else:
        d_wins = 0
    if bad or exploded or d_wins >= D_WINS_EPOCHS:
        what = ("a loss became NaN/inf" if bad else exploded or
                f"the discriminator won outright for {D_WINS_EPOCHS} epochs "
                f"(D(G(z)) = {row['d_fake']:.4f}, G loss = {row['g_loss']:.1f})")
        message = (f"Training diverged at epoch {row['epoch']}: {what}. Likely causes: a "
                   f"learning rate too high for D (lr_d={cfg.lr_d:g}) or a D much stronger "
                   f"than G. Knobs the seeds used: lower lr_d (seed 001 went 1e-3 -> 4e-4), "
                   f"label_smoothing=0.9, instance_noise=0.15, or loss='wgan-gp'. The last "
                   f"good checkpoint is kept.")
        if cfg.on_divergence == "stop":
            raise DivergenceError(message)
        print("WARNING:", message)
        d_wins = 0
    return d_wins, not (bad or exploded)


def _exploded(cfg, row, first):
    """'the D loss exploded to 3.3e+05 ...' when a loss is beyond its family's bound, else None."""
    for key, who in (("d_loss", "D"), ("g_loss", "G")):
        if cfg.loss in ("wgan", "wgan-gp"):
            limit = EXPLODED_RATIO_WGAN * max(abs(first[key]), 1.0)
            rule = f"{EXPLODED_RATIO_WGAN:g} x its first epoch's {first[key]:.3g}"
        else:
            limit, rule = EXPLODED_LOSS, f"{EXPLODED_LOSS:g}, where a healthy {cfg.loss} loss stays below ~20"
        if abs(row[key]) > limit:
            return f"the {who} loss exploded to {row[key]:.3g} (beyond {rule})"
    return None


def _first_epoch(history, row):
    """The first epoch's losses of this run (from the history when resuming), else this row."""
    if history["epoch"] and history["d_loss"][0] is not None:
        return {"d_loss": history["d_loss"][0], "g_loss": history["g_loss"][0]}
    return row


# ---- where the weights came from ------------------------------------------------------------
# train() marks the generator with what it has been trained for, so re-running a notebook's
# training cell with the same G, D (already trained) is not mistaken for a fresh run.
TRAINED_MARK = "_gan_lab_trained"


def weights_origin(g, saved=None):
    """{"from": "fresh init" | "continued in memory" | "checkpoint", ...}, printed when not fresh."""
    if saved is not None:
        return {"from": "checkpoint", "epochs_before": saved["epoch"]}
    mark = getattr(g, TRAINED_MARK, None)
    if not mark:
        return {"from": "fresh init"}
    print(f"Note: these G and D were already trained for {mark['epochs']} epochs "
          f"({mark['steps']} steps{', run ' + mark['run'] if mark['run'] else ''}) in this session: "
          f"this run continues from those weights, its epoch 1 is not a fresh start. For a fresh "
          f"start rebuild them first: G, D = gh.build_models(cfg).")
    return {"from": "continued in memory", "epochs_before": mark["epochs"],
            "steps_before": mark["steps"], "previous_run": mark["run"]}


def _count_trained(g, d, n_steps, run):
    for net in (g, d):
        mark = getattr(net, TRAINED_MARK, None) or {"epochs": 0, "steps": 0, "run": None}
        mark = {"epochs": mark["epochs"] + 1, "steps": mark["steps"] + n_steps,
                "run": str(run.path) if run is not None else mark["run"]}
        setattr(net, TRAINED_MARK, mark)  # a plain attribute: not saved in state_dict


def check_epochs_left(cfg, done, path):
    """Resuming with fewer epochs than are done would mislabel the run and rewrite its
    hyperparameters.json: refused before anything is written."""
    if cfg.epochs < done:
        raise ValueError(f"epochs={cfg.epochs} but {path} has already trained {done} epochs: set "
                         f"epochs to {done} or more to resume it (epochs={done} only redraws its "
                         f"figures), or set resume=False for a new run.")


@torch.no_grad()
def _sample(g, noise):
    was_training = g.training
    g.eval()
    out = g(noise).float()
    g.train(was_training)
    return out


def _critic_for_plot(cfg, d):
    return d if cfg.is_points else None


def _checkpoint(cfg, epoch, g, d, opt_g, opt_d, scaler, fixed_noise, history, gen):
    return {"epoch": epoch, "config": cfg.to_dict(), "generator": g.state_dict(),
            "discriminator": d.state_dict(), "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(), "scaler": scaler.state_dict(),
            "fixed_noise": fixed_noise.cpu(), "history": history, "rng": rng_state(gen)}


def generate(g, n, noise_dim=None, seed=0, device=None):
    """n fresh samples from a trained generator (eval mode, no grad)."""
    device = device or next(g.parameters()).device
    z = torch.randn(n, noise_dim or g.noise_dim, generator=torch.Generator().manual_seed(seed))
    return _sample(g, z.to(device))
