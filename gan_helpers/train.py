"""train(): the one training loop for every loss family, read top to bottom.

Per epoch: shuffled on-device batches; n_critic discriminator steps (`d_step`) per generator
step (`g_step`); every step's statistics kept on the device and read once per epoch (no host
sync per step), as epoch means and per-step loss curves; honest wall seconds; a fixed-noise snapshot; an atomic checkpoint; callbacks
for metrics; a guard that stops (or warns) when training diverges.
"""
import inspect
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import env, losses
from .config import resolve_architecture
from .augment import augment_both, augment_real
from .data import batches, steps_per_epoch
from .env import pick_device
from .models import build_models, sample

# D(G(z)) ~ 0 with an exploding G loss for 3 epochs in a row, and for at least 500 G steps, is
# divergence. The steps matter on a small folder: 128 images at batch 64 are 2 steps an epoch,
# and 6 steps prove nothing; on MNIST at batch 256, 3 epochs are 700 steps.
D_WINS_EPOCHS, D_WINS_STEPS = 3, 500
# A loss that grows by orders of magnitude is divergence too. BCE, hinge and LSGAN losses of a
# healthy run stay below ~20 (per-sample losses of a probability or a margin), so an epoch mean
# beyond 1e3 means the weights blew up. WGAN critic values drift freely (only differences mean
# something), so there the bound is relative: 1e4 x the first epoch's magnitude (at least 1).
EXPLODED_LOSS = 1e3
EXPLODED_RATIO_WGAN = 1e4


class DivergenceError(RuntimeError):
    pass


class DStats(NamedTuple):
    """What one D step measured, as device tensors (named as in the history)."""
    d_loss: torch.Tensor
    d_real: torch.Tensor     # D(x): a probability for BCE, the raw critic score otherwise
    d_fake: torch.Tensor     # D(G(z)), likewise
    gp: torch.Tensor         # the gradient penalty: WGAN-GP's, or rpgan's R1 + R2 (else 0)
    grad_norm: torch.Tensor  # mean ||grad D|| where the penalty looks: interpolates, or rpgan's reals


class GStats(NamedTuple):
    """What one G step measured, as a device tensor."""
    g_loss: torch.Tensor


@dataclass
class GAN:
    """The two networks and everything that updates them, on one device."""
    g: nn.Module
    d: nn.Module
    g_fwd: nn.Module           # g itself, or its torch.compile'd forward (cfg.compile)
    d_fwd: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler: torch.amp.GradScaler  # scales fp16 losses so small gradients survive; off otherwise
    amp_dtype: Any             # the autocast dtype (bf16 / fp16), or None for fp32
    rng: torch.Generator       # the loop's random numbers: batches, noise, augmentation
    speed: dict                # the speed switches as resolved for this device
    g_ema: Any = None          # the moving average of G's weights (cfg.ema > 0), else None
    loss: Any = None           # the loss family (losses.BCE, WGANGP, ...) with its extras

    @property
    def device(self):
        return next(self.g.parameters()).device

    @property
    def sampler(self):
        """The G that snapshots and metrics draw from: the averaged one when cfg.ema is on."""
        return self.g if self.g_ema is None else self.g_ema.module

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype else nullcontext()


@dataclass
class EpochState:
    """What a callback is handed after each epoch."""
    epoch: int
    generator: nn.Module
    discriminator: nn.Module
    cfg: Any
    history: dict
    device: torch.device
    run: Any   # the runs.Run, or None
    data: Any  # the data.Dataset, on the device


def autocast_dtype(precision, device, points=False):
    """None (fp32) or the autocast dtype; refuses what the hardware cannot do, with why.
    `points`: the tiny 2D MLPs, which gain nothing from bf16 and need fp32's resolution."""
    cuda = device.type == "cuda"
    if precision == "auto":
        if points:
            return None
        if not cuda:  # bf16 pays on CPUs with native bf16 units (AVX512-BF16, AMX), not others
            return torch.bfloat16 if device.type == "cpu" and cpu_has_bf16() else None
        return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[env.auto_gpu_precision(device)]
    if precision == "fp32":
        return None
    if precision == "bf16":
        if cuda and env.cuda_capability(device) < (8, 0):
            major, minor = env.cuda_capability(device)
            raise ValueError(f"precision='bf16' needs a GPU of compute capability 8.0 or newer "
                             f"(A100, L4, H100); this one is {major}.{minor} (a Colab T4 is 7.5), where "
                             f"bf16 is only emulated and its convolutions are slow or fail. Use "
                             f"precision='fp16' (with a grad scaler) or 'auto'.")
        return torch.bfloat16
    if not cuda:
        raise ValueError(f"precision='fp16' needs a CUDA GPU; on {device.type} use 'fp32' or 'bf16'.")
    return torch.float16


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
    """Adam uses both betas; SGD uses betas[0] as its momentum; RMSProp uses neither (torch's
    defaults: alpha 0.99 for the running mean of squared gradients, no momentum).
    fused: one kernel for all the weights, and a grad scaler's inf check stays on the device
    (unfused, fp16's scaler asks the host at every step). PyTorch has no fused RMSProp."""
    extra = {"fused": True} if fused else {}
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), **extra)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.SGD(params, lr=lr, momentum=float(betas[0]), **extra)


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


def prepare(cfg, data, models=None):
    """The GAN on its device (channels_last if on), its optimisers, grad scaler and random
    generator, and the data moved there. Shared by train() and the benchmark (benchmarks/bench.py)."""
    device = pick_device(cfg.device)
    amp_dtype = autocast_dtype(cfg.precision, device, points=cfg.is_points)
    speed = speed_settings(cfg, device)
    g, d = models if models is not None else build_models(cfg)
    g, d = g.to(device), d.to(device)
    if speed["channels_last"]:
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
    torch.backends.cudnn.benchmark = speed["cudnn_benchmark"]
    # compile compiles the forward passes; the gradient penalty's double backward runs the
    # plain critic (compiled graphs do not support it)
    g_fwd, d_fwd = (torch.compile(g), torch.compile(d)) if speed["compile"] else (g, d)
    fused = speed["fused_optimizer"]
    gan = GAN(g, d, g_fwd, d_fwd,
              opt_g=make_optimizer(cfg.optimizer, g.parameters(), cfg.lr_g, cfg.betas_g, fused),
              opt_d=make_optimizer(cfg.optimizer, d.parameters(), cfg.lr_d, cfg.betas_d, fused),
              scaler=torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16),
              amp_dtype=amp_dtype, rng=torch.Generator(device).manual_seed(cfg.seed), speed=speed,
              g_ema=averaged_generator(g, cfg.ema), loss=losses.family(cfg.loss, cfg))
    if gan.scaler.is_enabled() and cfg.optimizer == "rmsprop":
        print("Note: fp16 with optimizer='rmsprop': the grad scaler checks each step's gradients "
              "for inf on the host (PyTorch has no fused RMSProp), so every step waits for the "
              "GPU. optimizer='adam' or 'sgd' (fused) or precision='fp32' avoid the wait.")
    return gan, data.to(device)


def averaged_generator(g, decay):
    """A copy of G whose weights (and BatchNorm statistics) follow G's as an exponential moving
    average, torch's AveragedModel: avg = decay * avg + (1 - decay) * G after each G step.
    None when decay is 0 (off)."""
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
    return AveragedModel(g, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def d_view(cfg, x, noise_std, rng, real):
    """What D sees: the augmentation (flip and the leaky kinds on real images only,
    DiffAugment on both), then instance noise."""
    if real:
        x = augment_real(x, cfg.augment, rng)
    x = augment_both(x, cfg.augment, rng)
    return x + noise_std * torch.randn(x.shape, device=x.device, generator=rng) if noise_std else x


def d_step(cfg, gan, real, noise_std=0.0, its_g_turn=True):
    """One update of D on a real batch and as many fresh fakes. Returns the fakes (with their
    graph when G steps next, so G's step reuses this forward pass) and DStats. Read it as the
    BCE step: the other families' extras are gan.loss's calls (penalty, after_d_step), which
    do nothing for a family that has none."""
    z = torch.randn(real.shape[0], cfg.noise_dim, device=real.device, generator=gan.rng)
    with gan.autocast(), (nullcontext() if its_g_turn else torch.no_grad()):
        fake = gan.g_fwd(z)
    real_in = d_view(cfg, real, noise_std, gan.rng, real=True)
    fake_in = d_view(cfg, fake.detach(), noise_std, gan.rng, real=False)
    real_in, fake_in, d_fwd = penalty_inputs(gan, real_in, fake_in)
    with gan.autocast():
        real_scores, fake_scores = d_fwd(real_in), d_fwd(fake_in)
        loss = gan.loss.d_loss(real_scores.float(), fake_scores.float(), cfg.label_smoothing)
    penalty, gp, grad_norm = gan.loss.penalty(gan.d, real, fake, (real_in, real_scores), (fake_in, fake_scores),
                                              gan.rng)
    loss = loss + penalty
    gan.opt_d.zero_grad(set_to_none=True)
    gan.scaler.scale(loss).backward()
    gan.scaler.step(gan.opt_d)  # gan.scaler.update() once per iteration, in train_epoch
    gan.loss.after_d_step(gan.d)  # WGAN: clip D's weights
    d_real = gan.loss.probability(real_scores.detach().float()).mean()
    d_fake = gan.loss.probability(fake_scores.detach().float()).mean()
    return fake, DStats(loss.detach(), d_real, d_fake, gp.detach(), grad_norm)


def penalty_inputs(gan, real_in, fake_in):
    """When the penalty needs D's gradient at these very inputs (rpgan's R1 and R2), they take
    gradients, and the plain D scores them (a compiled D has no double backward). Otherwise
    the inputs as they are and D's forward (compiled when cfg.compile)."""
    if gan.loss.input_grads:
        return real_in.detach().requires_grad_(True), fake_in.detach().requires_grad_(True), gan.d
    return real_in, fake_in, gan.d_fwd


def g_step(cfg, gan, fake, noise_std=0.0, real=None):
    """One update of G through D's judgement of the fakes d_step just made (for loss="rpgan"
    against D's scores of the real batch, each fake paired with a real). Returns GStats."""
    # G's loss is backpropagated through D, but only G's weights step here: switching D's
    # gradients off saves computing (and storing) them, and leaves D's last .grad as it was
    gan.d.requires_grad_(False)
    try:
        with gan.autocast():
            fake_scores = gan.d_fwd(d_view(cfg, fake, noise_std, gan.rng, real=False)).float()
            real_scores = paired_real_scores(cfg, gan, real, noise_std)
            loss = gan.loss.g_loss(fake_scores, real_scores)
        gan.opt_g.zero_grad(set_to_none=True)
        gan.scaler.scale(loss).backward()
        gan.scaler.step(gan.opt_g)
    finally:  # a Ctrl-C or out-of-memory error in here must not leave D frozen for the next run
        gan.d.requires_grad_(True)
    return GStats(loss.detach())


def paired_real_scores(cfg, gan, real, noise_std):
    """D's scores of the real batch, each paired with a fake in G's loss, for a relativistic
    family (rpgan): constants to G (D is frozen and reals have no gradient). Else None."""
    if not gan.loss.pairs_reals:
        return None
    return gan.d_fwd(d_view(cfg, real, noise_std, gan.rng, real=True)).float().detach()


def show_training_step():
    """Print the real source of d_step and g_step, the code every training run executes
    (not a copy made for reading), with the file and line it starts at."""
    for step in (d_step, g_step):
        lines, first = inspect.getsourcelines(step)
        print(f"# {inspect.getsourcefile(step).rsplit('/', 2)[-2]}/train.py, line {first}")
        print("".join(lines))


class EpochStats(NamedTuple):
    """What one epoch measured, as device tensors: the sums for the epoch means and each
    step's losses for the per-step curves (the tug of war within an epoch)."""
    d_sums: torch.Tensor  # DStats summed over the epoch's D steps
    g_sums: torch.Tensor  # GStats summed over its G steps
    d_loss: torch.Tensor  # the D loss of every D step, in order
    g_loss: torch.Tensor  # the G loss of every G step, in order (one per critic_steps batches)


def train_epoch(cfg, gan, data, noise_std=0.0, on_step=None, max_steps=None):
    """One pass over the data (or max_steps batches): a D step per batch, a G step every
    critic_steps batches. Returns EpochStats, still on the device: every step's statistics
    are kept there (one small tensor per step), so no step waits for the GPU to report."""
    d_rows, g_rows = [], []
    for i, real in enumerate(batches(data, cfg.batch_size, gan.rng)):
        if max_steps is not None and i >= max_steps:
            break
        if gan.speed["channels_last"]:
            real = real.contiguous(memory_format=torch.channels_last)
        its_g_turn = (i + 1) % cfg.critic_steps == 0
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        fake, d_stats = d_step(cfg, gan, real, noise_std, its_g_turn)
        d_rows.append(torch.stack(d_stats))
        # (2) Update G network: maximize log(D(G(z)))
        if its_g_turn:
            g_rows.append(torch.stack(g_step(cfg, gan, fake, noise_std, real)))
            # (3) With cfg.ema: the averaged G takes a small step towards the G just updated
            if gan.g_ema is not None:
                gan.g_ema.update_parameters(gan.g)
        # One grad-scaler update per iteration, after every optimiser of the iteration has
        # stepped (PyTorch's AMP recipe for several optimisers): an update after each step
        # would count every iteration twice towards the scale's growth.
        gan.scaler.update()
        if on_step is not None:
            on_step()
    d_all = stack_rows(d_rows, len(DStats._fields), gan.device)
    g_all = stack_rows(g_rows, len(GStats._fields), gan.device)
    return EpochStats(d_all.sum(0), g_all.sum(0), d_all[:, 0], g_all[:, 0])


def stack_rows(rows, width, device):
    """Per-step rows -> one (steps, width) device tensor; (0, width) for no steps."""
    return torch.stack(rows) if rows else torch.zeros(0, width, device=device)


def train(cfg, data, run=None, models=None, callbacks=(), progress=True, watch=None):
    """Train a GAN on `data` as `cfg` says; returns the history (per-epoch lists). run: a
    runs.Run (folder, checkpoints, W&B) or None (in memory); models: (G, D), else built from
    cfg; callbacks: f(state) -> dict | None after each epoch, the dict recorded in the history;
    watch: what shows training as it happens (gan_helpers.live's view, which gh.train hands
    in a notebook): watch.step(gan, history) after every step, watch.epoch(gan, history)
    after each epoch is recorded. It decides itself when to draw; this loop draws nothing."""
    gan, data, fixed_noise, history, start = start_training(cfg, data, run, models)
    n_steps = steps_per_epoch(len(data), cfg.batch_size)
    bar = tqdm(total=cfg.epochs * n_steps, initial=start * n_steps, disable=not progress,
               desc="training", unit="step", dynamic_ncols=True)

    def on_step():
        bar.update()
        if watch is not None:
            watch.step(gan, history)

    # d_wins: G steps in a row D has won, kept in the history so a resumed run goes on counting
    d_wins, started = history.get("d_wins_steps", 0), time.perf_counter() - history["total_seconds"]
    try:
        for epoch in range(start + 1, cfg.epochs + 1):
            row, finite, d_wins = run_epoch(cfg, gan, data, epoch, d_wins, bar, history, on_step)
            state = EpochState(epoch, gan.sampler, gan.d, cfg, history, gan.device, run, data)
            for callback in callbacks:
                row.update(callback(state) or {})
            record(history, row)
            history["d_wins_steps"] = d_wins
            history["total_seconds"] = time.perf_counter() - started
            _count_trained(gan.g, gan.d, n_steps, run)
            if run is not None:
                # snapshot, checkpoint (only of finite weights: with on_divergence="warn", NaN
                # weights never replace good ones), training_metrics.json and W&B
                run.end_epoch(gan, epoch, fixed_noise, history, save_checkpoint=finite)
            if watch is not None:
                watch.epoch(gan, history)
    except RuntimeError as e:  # memory ran out (CUDA, CPU, MPS); any other error as it is
        if out_of_memory_advice(cfg, e) is None:
            raise
        raise RuntimeError(out_of_memory_advice(cfg, e)) from e
    except KeyboardInterrupt:  # a student stopping early still gets the figures
        print(f"Interrupted after epoch {len(history['epoch'])}; the newest checkpoint is kept "
              f"(resume=True continues from it).")
    finally:
        bar.close()
    history["images_per_second"] = images_per_second(history, n_steps * cfg.batch_size)
    if run is not None:
        run.log_epoch(history, to_wandb=False)  # images_per_second into the file; W&B: summary
        run.finish(history)
    return history


def start_training(cfg, data, run, models):
    """The GAN on its device, the fixed noise of the snapshots and the history to continue
    (a resumed run's, from its newest readable checkpoint), and the run folder opened.
    Returns (gan, data on the device, fixed noise, history, epochs already done)."""
    cfg.validate()
    try:
        gan, data = prepare(cfg, data, models)
    except RuntimeError as e:  # the data set or the networks do not fit
        if out_of_memory_advice(cfg, e) is None:
            raise
        raise RuntimeError(out_of_memory_advice(cfg, e)) from e
    fixed_noise = torch.randn(cfg.n_samples, cfg.noise_dim, generator=gan.rng, device=gan.device)
    history, start = new_history(gan.device), 0
    if run is not None and run.resume:  # the newest readable checkpoint, checked against cfg
        fixed_noise, history, start = run.restore(gan, run.load_checkpoint())
    weights = weights_origin(gan.g, start)
    if run is not None:
        run.open(gan.device, parameters=[sum(p.numel() for p in m.parameters()) for m in (gan.g, gan.d)],
                 weights=weights)
        if start == 0:  # BatchNorm has no running statistics yet: the batch's own, not eval mode's
            run.save_snapshot(0, sample(gan.g, fixed_noise, batch_stats=True), gan.d if cfg.is_points else None)
    return gan, data, fixed_noise, history, start


def images_per_second(history, images_per_epoch):
    seconds = sum(history["epoch_seconds"])
    return images_per_epoch * len(history["epoch"]) / seconds if seconds else None


def run_epoch(cfg, gan, data, epoch, d_wins, bar, history, on_step=None):
    """train_epoch with the epoch's bookkeeping: learning-rate decay, instance-noise annealing,
    the one host sync, the divergence check. Returns (history row, whether its numbers are
    finite, G steps in a row D has won)."""
    gan.g.train(), gan.d.train()
    noise_std = cfg.instance_noise * (1 - (epoch - 1) / cfg.epochs)  # annealed to 0
    if cfg.lr_decay == "linear":  # as the WGAN-GP paper's CIFAR runs; set from the epoch, so resume-safe
        for opt, lr in ((gan.opt_g, cfg.lr_g), (gan.opt_d, cfg.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr * (1 - (epoch - 1) / cfg.epochs)
    t0 = time.perf_counter()
    stats = train_epoch(cfg, gan, data, noise_std, on_step=on_step or bar.update)
    grad_names, grad_norms = layer_grad_norms(gan.g, gan.d)
    # The one host sync per epoch: reading device numbers waits for the GPU, so every step's
    # statistics stayed on the device until now and are read here together
    host = torch.cat([*stats, grad_norms]).tolist()
    if gan.device.type == "cuda":
        torch.cuda.synchronize()
    d_sums, g_sums, step_d, step_g, grads = split(host, [*(len(t) for t in stats), len(grad_norms)])
    n_steps = steps_per_epoch(len(data), cfg.batch_size)
    row = dict(epoch=epoch, **epoch_means(cfg, d_sums + g_sums, n_steps),
               epoch_seconds=time.perf_counter() - t0)
    d_wins, finite = _check_divergence(cfg, row, d_wins, n_steps, first=_first_epoch(history, row))
    row.update(zip(grad_names, grads))  # scaler.step unscaled fp16 grads
    # every step's losses, one list per epoch (G's: one per G step), for the per-step curves
    row.update(step_d_loss=step_d, step_g_loss=step_g)
    bar.set_postfix(d_loss=f"{row['d_loss']:.3f}", g_loss=f"{row['g_loss']:.3f}",
                    s_per_epoch=f"{row['epoch_seconds']:.1f}")
    return row, finite, d_wins


def split(values, lengths):
    """One flat list -> consecutive pieces of the given lengths."""
    ends = np.cumsum(lengths)
    return [values[end - n:end] for n, end in zip(lengths, ends)]


def epoch_means(cfg, sums, n_steps):
    """Per-step means of the summed DStats + GStats: D stats over every step, G's over G steps."""
    g_steps = max(n_steps // cfg.critic_steps, 1)
    d = dict(zip(DStats._fields, sums))
    means = {"d_loss": d["d_loss"] / n_steps, "g_loss": sums[len(DStats._fields)] / g_steps,
             "d_real": d["d_real"] / n_steps, "d_fake": d["d_fake"] / n_steps}
    loss = losses.family(cfg.loss, cfg)
    if loss.has_penalty():  # rpgan: gp = R1 + R2
        means.update(gp=d["gp"] / n_steps, grad_norm=d["grad_norm"] / n_steps)
    if loss.critic:
        means["wasserstein"] = means["d_real"] - means["d_fake"]
    return means


def out_of_memory_advice(cfg, error):
    """What to lower when memory runs out: CUDA's OutOfMemoryError, or the RuntimeError of a CPU's
    allocator ("can't allocate memory") or an Apple GPU's ("MPS backend out of memory"); None
    for any other error. (The Fashion-MNIST and D&D-maps report fought a 24 GB card.)"""
    text = str(error)
    if isinstance(error, torch.cuda.OutOfMemoryError):
        where, more = "CUDA", "precision='auto' (bf16/fp16) halves activation memory"
    elif "can't allocate memory" in text or "MPS backend out of memory" in text:
        where = "MPS (the Apple GPU)" if "MPS" in text else "The CPU (its RAM)"
        more = ("on Colab a GPU runtime (Runtime > Change runtime type > T4 GPU) adds 15 GB of GPU "
                "memory to the 12.7 GB of RAM")
    else:
        return None
    return (f"{where} ran out of memory at batch_size={cfg.batch_size}, image_size={cfg.image_size}, "
            f"precision={cfg.precision!r}. Lower batch_size first (halve it: "
            f"batch_size={max(cfg.batch_size // 2, 1)}), then the widths in g_channels / d_channels "
            f"or image_size; {more}. Restart the runtime if later cells still fail. Checkpoints so "
            f"far are kept: resume=True.")


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


def _check_divergence(cfg, row, d_wins, n_steps, first=None):
    """NaN/inf, a loss exploded by orders of magnitude, or D winning outright for
    D_WINS_EPOCHS epochs and D_WINS_STEPS G steps: stop (or warn) with advice. `d_wins`: G steps
    in a row D has won before this epoch of `n_steps` steps; `first`: the run's first epoch row.
    Returns (G steps in a row D has won, whether this epoch's weights are worth keeping)."""
    values = [v for k, v in row.items() if isinstance(v, float)]
    bad = not all(np.isfinite(values))
    exploded = None if bad else _exploded(cfg, row, first or row)
    g_steps = max(n_steps // cfg.critic_steps, 1)
    won = cfg.loss == "bce" and row["d_fake"] < 0.01 and row["g_loss"] > 6
    d_wins = d_wins + g_steps if won else 0
    if bad or exploded or d_wins >= max(D_WINS_EPOCHS * g_steps, D_WINS_STEPS):
        what = ("a loss became NaN/inf" if bad else exploded or
                f"the discriminator won outright for {d_wins // g_steps} epochs, {d_wins} G steps "
                f"(D(G(z)) = {row['d_fake']:.4f}, G loss = {row['g_loss']:.1f})")
        message = (f"Training diverged at epoch {row['epoch']}: {what}. Likely causes: a "
                   f"learning rate too high for D (lr_d={cfg.lr_d:g}) or a D much stronger "
                   f"than G. Knobs the case-study reports used: lower lr_d (the Fashion-MNIST "
                   f"and D&D-maps report went 1e-3 -> 4e-4), label_smoothing=0.9, "
                   f"instance_noise=0.15, or {wgan_gp_advice(cfg)}. The last good checkpoint is kept.")
        if cfg.on_divergence == "stop":
            raise DivergenceError(message)
        print("WARNING:", message)
        d_wins = 0
    return d_wins, not (bad or exploded)


def wgan_gp_advice(cfg):
    """loss='wgan-gp' as a setting that works for this architecture: a critic cannot use
    BatchNorm (the penalty is per sample), so a D with BatchNorm (dcgan64) swaps it too."""
    if resolve_architecture(cfg).d_norm == "batch":
        return "loss='wgan-gp' with d_norm='instance' (a critic cannot use BatchNorm)"
    return "loss='wgan-gp'"


def _exploded(cfg, row, first):
    """'the D loss exploded to 3.3e+05 ...' when a loss is beyond its family's bound, else None."""
    for key, who in (("d_loss", "D"), ("g_loss", "G")):
        if losses.family(cfg.loss).critic:
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


def weights_origin(g, resumed_after=0):
    """{"from": "fresh init" | "continued in memory" | "checkpoint", ...}, printed when not fresh.
    resumed_after: the epoch a resumed run's checkpoint was saved after (0: not resumed)."""
    if resumed_after:
        return {"from": "checkpoint", "epochs_before": resumed_after}
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
