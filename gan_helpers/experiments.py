"""Several configs trained one after another in this process, each kept as a `Result`.

`run_configs` is the one runner: the 2D lesson of notebook 04 (`train_variants`, seconds per
variant), its MNIST pair, and notebook 05's augmentation lesson (`train_augmentation_variants`)
all go through it. Whole notebooks as separate processes are sweep.py's job.
"""
import time
from dataclasses import dataclass, field
from typing import Optional

from .callbacks import (CollapseDetector, FolderMetrics, PointSnapshots, StackedModeCounter, hops,
                        run_outcome)
from .config import RunConfig
from .data import STACKED_MNIST_SIZE, Dataset, load_dataset, steps_per_epoch
from .env import quick_mode
from .metrics import point_metrics, training_reference
from .models import build_models, generate
from .runs import Run, start_run
from .toy import mode_centers
from .train import train

EVAL_SAMPLES = 2000  # fresh samples per 2D evaluation (seeded, so comparable across runs)


@dataclass
class Result:
    """One trained config: its networks, history, run folder (None in memory) and callbacks."""
    cfg: RunConfig
    history: dict
    generator: object
    critic: object
    data: Dataset
    run: Optional[Run] = None
    callbacks: list = field(default_factory=list)
    seconds: float = 0.0       # training only (the sum of epoch seconds)
    metrics: dict = field(default_factory=dict)  # final numbers, where the runner measures them
    snapshots: list = field(default_factory=list)  # 2D: PointSnapshots' snapshots
    detector: Optional[CollapseDetector] = None


def run_configs(configs, data=None, experiment=None, output_dir="outputs", use_drive=False,
                callbacks=None, progress=True):
    """{label: RunConfig} -> {label: Result}, trained in order. data: one Dataset for all (else
    each config loads its own); experiment: give each run a folder <experiment>/<label> (else in
    memory); callbacks(cfg, g, d) -> the training callbacks of one config. progress: a line
    naming each run as it starts, and its training bar (a cell is never silent for minutes)."""
    results = {}
    for label, cfg in configs.items():
        cfg.validate()
        if progress:
            print(f"Training {label!r}: {cfg.epochs} epochs", flush=True)
        run = None if experiment is None else start_run(
            cfg, experiment, output_dir, label.replace(" ", "_"), use_drive=use_drive)
        g, d = build_models(cfg)
        extra = callbacks(cfg, g, d) if callbacks else []
        ds = load_dataset(cfg) if data is None else data
        history = train(cfg, ds, run, models=(g, d), callbacks=extra, progress=progress)
        results[label] = Result(cfg, history, g, d, ds, run, extra, sum(history["epoch_seconds"]))
    return results


# ---- notebook 04's lessons, defined once: the notebook and data_scripts/collapse_acceptance.py
# both read them from here, so the measured numbers are the notebook's own
# each variant's part in the lesson: the failure shown, or a cure of it
LESSON_ROLES = {"vanilla GAN": "collapse", "WGAN-GP": "cure", "PacGAN2": "cure",
                "small D": "collapse", "tutorial D": "cure"}


def toy_lesson_configs(dataset="ring8", epochs=200, wgan_epochs=120, seed=1):
    """Notebook 04 Part 1: {label: RunConfig}, the same generator (noise 2, 3 x 128 ReLU) in
    each. "vanilla GAN" has the optimiser settings of Metz et al.'s ring figure (2017; those of
    mk-minchul/unroll_gan, configs/unroll_0.py: D at 1e-4, G ten times faster, batch 512):
    its generator's mass runs from mode to mode. Their generator (noise 256, 2 x 128) hops
    too, but the cures took longer than this lesson's budget to get sharp (issue 21). Two
    cures: "WGAN-GP" (a critic, lambda 1 as toy tasks want, 5 critic steps, lrs decayed to 0)
    and "PacGAN2" (the vanilla GAN, its D judging samples in pairs, pack=2). Quick mode
    shrinks them like any run."""
    common = dict(dataset=dataset, seed=seed, noise_dim=2, point_depth=3, max_images=20480,
                  device="cpu", precision="fp32", wandb_mode="disabled")
    vanilla = RunConfig(**common, loss="bce", epochs=epochs, batch_size=512, lr_g=1e-3,
                        lr_d=1e-4, betas_g=(0.5, 0.999), betas_d=(0.5, 0.999))
    configs = {
        "vanilla GAN": vanilla,
        "WGAN-GP": RunConfig(**common, loss="wgan-gp", epochs=wgan_epochs, batch_size=256,
                             gp_lambda=1.0, lr_g=3e-3, lr_d=3e-3, betas_g=(0.5, 0.9),
                             betas_d=(0.5, 0.9), lr_decay="linear"),
        "PacGAN2": vanilla.replace(pack=2),
    }
    if quick_mode():
        configs = {k: c.quick(quiet=i > 0) for i, (k, c) in enumerate(configs.items())}
    return {k: c.validate() for k, c in configs.items()}


def mnist_lesson_configs(epochs=10, max_images=10000, batch_size=128, seed=1, d_channels=(4, 8),
                         pack=1, precision="fp32", wandb_mode="disabled"):
    """Notebook 04 Part 2: {label: RunConfig}, the tutorial generator in both, BCE with the
    DCGAN paper's Adam settings. "small D": a discriminator of `d_channels` (optionally
    judging `pack` digits at once), far smaller than G, as in the Unrolled-GAN paper's
    Stacked-MNIST setting that collapsed (PacGAN, Table 3). "tutorial D": the tutorial's own
    discriminator, (64, 128) channels. Quick mode shrinks them like any run."""
    base = RunConfig(dataset="mnist", epochs=epochs, max_images=max_images, batch_size=batch_size,
                     seed=seed, precision=precision, wandb_mode=wandb_mode, loss="bce",
                     on_divergence="warn")
    configs = {"small D": base.replace(d_channels=list(d_channels), pack=pack), "tutorial D": base}
    if quick_mode():
        configs = {k: c.quick(quiet=i > 0) for i, (k, c) in enumerate(configs.items())}
    return {k: c.validate() for k, c in configs.items()}


def train_mnist_lesson(configs, data, experiment=None, output_dir="outputs", use_drive=False,
                       every=1, verbose=True, progress=True):
    """Part 2's runs, each with a CollapseDetector measuring coverage, class KL and FID/KID
    every `every` epochs (in the history, training_metrics.json and W&B)."""
    def detector(cfg, g, d):
        return [CollapseDetector(every=every, with_fid=True, verbose=verbose)]
    return run_configs(configs, data, experiment, output_dir, use_drive, detector, progress)


def train_variants(configs, every=None, verbose=True):
    """{label: RunConfig} (2D data) -> {label: Result} with snapshots (samples and the critic's
    landscape, for the player), the collapse detector's numbers in each history, and metrics:
    final modes_captured / high_quality_fraction / mode_kl on EVAL_SAMPLES fresh samples."""
    for label, cfg in configs.items():
        cfg.validate()
        if not cfg.is_points:
            raise ValueError(f"variant {label!r} has dataset={cfg.dataset!r}: train_variants is "
                             f"for the 2D sets (ring8, grid25); train image runs with gh.train.")

    def point_callbacks(cfg, g, d):
        every_k = every or max(cfg.epochs // 20, 1)  # ~20 checks: enough to see the mass move
        snaps = PointSnapshots(every=every_k)
        snaps.take(0, g, d)
        return [CollapseDetector(every=every_k, verbose=False), snaps]

    results = {}
    for label, cfg in configs.items():
        t0 = time.perf_counter()
        r = run_configs({label: cfg}, callbacks=point_callbacks, progress=verbose)[label]
        r.detector, r.snapshots = r.callbacks[0], r.callbacks[1].snapshots
        r.metrics = point_metrics(generate(r.generator, EVAL_SAMPLES, seed=1), cfg.dataset)
        if verbose:
            k = len(mode_centers(cfg.dataset))
            print(f"{label:>24}: {r.metrics['modes_captured']}/{k} modes captured, "
                  f"{r.metrics['high_quality_fraction']:.1%} high quality, all samples over "
                  f"{r.metrics['modes_reached']}/{k} modes, mode KL "
                  f"{r.metrics['mode_kl']:.2f} ({r.seconds:.0f} s training, "
                  f"{time.perf_counter() - t0:.0f} s with evaluation)")
        results[label] = r
    return results


def train_augmentation_variants(cfg, data, kinds=("flip", "rotate"), steps=1000,
                                experiment="augmentation", output_dir="outputs", use_drive=False,
                                epochs=None):
    """The over-augmentation lesson: one short run per augmentation kind, identical otherwise
    (same seed, data, fixed noise), each in its own run folder named augment-<kind>, of `steps`
    G steps (or `epochs` epochs, when given). Each records the own-image numbers at its 5
    snapshots (callbacks.FolderMetrics): a leak shows as a number, e.g. `rotate` drops
    `edge_alignment` below the training images' `edge_alignment_train`.
    Returns the run folders, for compare_runs. Quick mode shrinks the runs like any other."""
    configs = {}
    for kind in kinds:
        # on_divergence="warn": a leaky kind can let D win outright (rotate did on the Faenza
        # icons after ~440 steps); the lesson shows that run to its end instead of stopping there
        variant = cfg.replace(augment=kind, steps=0 if epochs else steps, epochs=epochs or cfg.epochs,
                              on_divergence="warn")
        variant = variant.fit_steps(len(data), snapshots=5, quiet=True) if variant.steps else \
            variant.replace(snapshot_every=max(variant.epochs // 5, 1))
        configs[f"augment-{kind}"] = (variant.quick(quiet=True) if quick_mode() else variant).validate()
    reference = training_reference(data.images.cpu())  # the training side, once for all runs

    def measure(c, g, d):
        return [FolderMetrics(every=c.snapshot_every, n=64 if quick_mode() else 256, reference=reference)]

    results = run_configs(configs, data, experiment, output_dir, use_drive, callbacks=measure)
    for label, r in results.items():
        print(f"augment={r.cfg.augment!r}: {len(r.history['epoch'])} epochs in "
              f"{r.history['total_seconds']:.0f} s -> {r.run.path}")
    return [r.run.path for r in results.values()]


def results_table(results):
    """A printable table: one row per variant with the final 2D metrics and seconds.
    captured = modes holding a high-quality sample; reached = modes nearest to >= 1 % of all
    samples; moves = how often the dominant mode (where most samples are) changed between the
    detector's checks; outcome: 'MODE COLLAPSE (hopping)' (over the run: most snapshots on <= 2 modes
    while the dominant mode moved), else the last snapshot's 'not converged' (< 10 % high
    quality), 'collapse' (sharp, < 3/4 of the modes captured) or 'ok' (callbacks.run_outcome)."""
    head = (f"{'variant':<16}{'captured':>9}{'high quality':>14}{'reached':>9}{'mode KL':>9}"
            f"{'moves':>7}{'seconds':>9}  outcome")
    rows = [head, "-" * len(head)]
    for label, r in results.items():
        m = r.metrics
        outcome = run_outcome(r.history, m, len(mode_centers(r.cfg.dataset)))
        rows.append(f"{label:<16}{m['modes_captured']:>9}{m['high_quality_fraction']:>14.1%}"
                    f"{m['modes_reached']:>9}{m['mode_kl']:>9.2f}{hops(r.history, 0)[2]:>7}"
                    f"{r.seconds:>9.0f}  {outcome}")
    return "\n".join(rows)



# ---- Stacked MNIST (1,000 modes) -----------------------------------------------------------
STACKED_STEPS = 2000  # G steps each: one pass over the 128,000 images at batch 64
# D's two conv widths: the tutorial's [64, 128] D let DCGAN cover 895 and 922 modes (seeds 0, 1),
# as many as its fixes; [16, 32] 704 (seed 0); [8, 16] (4,609 weights) drops modes as the papers'
# DCGANs did (issue 24's note has the numbers)
STACKED_D_CHANNELS = (8, 16)
# The papers' Stacked-MNIST rows (modes of 1,000 / KL), each at its own budget and architecture
STACKED_PUBLISHED = {"DCGAN (VEEGAN, Table 2)": "99 / 3.4", "DCGAN (PacGAN, Table 2)": "78.9 / 4.50",
                     "PacDCGAN2 (PacGAN, Table 2)": "1000 / 0.06",
                     "RpGAN + R1 + R2 (R3GAN)": "1000 / 0.029"}


def stacked_mnist_configs(seed=0, steps=STACKED_STEPS, batch_size=64, r1_gamma=1.0,
                          d_channels=STACKED_D_CHANNELS, wandb_mode="disabled"):
    """{name: (role, config)}: the same G (the TF tutorial's, 3 channels, 2.3M weights) and
    the tutorial's D narrowed to `d_channels` conv channels in each, as DCGAN, with packing
    (D judges two samples at once), and as RpGAN + R1 + R2 (R3GAN's loss); `steps` G steps
    each, turned into epochs by fit_steps. Quick mode shrinks them like any run."""
    base = RunConfig(dataset="stacked_mnist", channels=3, batch_size=batch_size, steps=steps,
                     d_channels=list(d_channels), seed=seed, precision="fp32", wandb_mode=wandb_mode)
    configs = {"DCGAN": ("baseline", base),
               "PacDCGAN2": ("fix", base.replace(pack=2)),
               "RpGAN+R1+R2": ("fix", base.replace(loss="rpgan", r1_gamma=r1_gamma))}
    configs = {name: (role, cfg.fit_steps(cfg.max_images or STACKED_MNIST_SIZE, quiet=True))
               for name, (role, cfg) in configs.items()}
    if quick_mode():
        configs = {k: (role, c.quick(quiet=i > 0)) for i, (k, (role, c)) in enumerate(configs.items())}
    return configs


def train_stacked_mnist(configs, samples=26_000, experiment=None, output_dir="outputs",
                        use_drive=False, progress=True):
    """Stacked MNIST's variants ({name: (role, RunConfig)}, from stacked_mnist_configs) trained
    one after another on one data set, each counted after its last epoch by a
    StackedModeCounter (`samples` fresh images; 26,000 as VEEGAN and PacGAN count; 500 in quick
    mode), so the count reaches training_metrics.json, W&B and the report. Each Result's
    `metrics`: its role, the modes (of 1,000) and KL, and the G steps it took."""
    roles = {name: role for name, (role, _) in configs.items()}
    samples = min(samples, 500) if quick_mode() else samples  # quick mode proves the code only
    first = next(iter(configs.values()))[1]
    data = load_dataset(first)  # every variant trains on the same stacked digits
    results = run_configs({name: cfg for name, (_, cfg) in configs.items()}, data, experiment,
                          output_dir, use_drive, progress=progress,
                          callbacks=lambda cfg, g, d: [StackedModeCounter(every=cfg.epochs, n=samples)])
    for name, r in results.items():
        steps = len(r.history["epoch"]) * steps_per_epoch(len(data), r.cfg.batch_size)
        r.metrics = {"role": roles[name], "modes": r.history["stacked_modes"][-1],
                     "kl": r.history["stacked_kl"][-1], "steps": steps // r.cfg.critic_steps}
    return results


def stacked_table(results):
    """Trained Stacked-MNIST variants (train_stacked_mnist) as a table, the papers' rows below."""
    rows = [f"{'variant':<14}{'role':<10}{'modes':>7}{'KL':>7}{'G steps':>9}{'seconds':>9}"]
    rows.append("-" * len(rows[0]))
    for name, r in results.items():
        m = r.metrics
        rows.append(f"{name:<14}{m['role']:<10}{m['modes']:>7}{m['kl']:>7.2f}{m['steps']:>9}"
                    f"{r.seconds:>9.0f}")
    rows += ["", "published (modes of 1,000 / KL; each at its own budget and architecture):"]
    return "\n".join(rows + [f"  {k}: {v}" for k, v in STACKED_PUBLISHED.items()])
