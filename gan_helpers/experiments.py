"""Several configs trained one after another in this process, each kept as a `Result`.

`run_configs` is the one runner: the 2D lesson of notebook 04 (`train_variants`, seconds per
variant), its MNIST pair, and notebook 05's augmentation lesson (`train_augmentation_variants`)
all go through it. Whole notebooks as separate processes are sweep.py's job.
"""
import time
from dataclasses import dataclass, field
from typing import Optional

from .callbacks import CollapseDetector, FolderMetrics, PointSnapshots, point_outcome
from .config import RunConfig
from .data import Dataset, load_dataset
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
    memory); callbacks(cfg, g, d) -> the training callbacks of one config."""
    results = {}
    for label, cfg in configs.items():
        cfg.validate()
        run = None if experiment is None else start_run(
            cfg, experiment, output_dir, label.replace(" ", "_"), use_drive=use_drive)
        g, d = build_models(cfg)
        extra = callbacks(cfg, g, d) if callbacks else []
        ds = load_dataset(cfg) if data is None else data
        history = train(cfg, ds, run, models=(g, d), callbacks=extra, progress=progress)
        results[label] = Result(cfg, history, g, d, ds, run, extra, sum(history["epoch_seconds"]))
    return results


def toy_lesson_configs(dataset="ring8", epochs=60, wgan_epochs=120, seed=42):
    """Notebook 04 Part 1's variants (and data_scripts/toy_acceptance.py's): a vanilla GAN with
    D slower than G, WGAN-GP, and a balanced BCE. Quick mode shrinks them like any run."""
    common = dict(dataset=dataset, seed=seed, noise_dim=2, max_images=20000, batch_size=256,
                  device="cpu", wandb_mode="disabled")
    bce = dict(common, loss="bce", epochs=epochs, betas_g=(0.5, 0.999), betas_d=(0.5, 0.999))
    configs = {
        "vanilla GAN": RunConfig(**bce, lr_g=1e-3, lr_d=1e-4),
        "WGAN-GP": RunConfig(**common, loss="wgan-gp", epochs=wgan_epochs, gp_lambda=1.0,
                             lr_g=3e-3, lr_d=3e-3, betas_g=(0.5, 0.9), betas_d=(0.5, 0.9),
                             lr_decay="linear"),
        "balanced BCE": RunConfig(**bce, lr_g=1e-3, lr_d=1e-3),
    }
    if quick_mode():
        configs = {k: c.quick(quiet=i > 0) for i, (k, c) in enumerate(configs.items())}
    return {k: c.validate() for k, c in configs.items()}


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
        every_k = every or max(cfg.epochs // 10, 1)
        snaps = PointSnapshots(every=every_k)
        snaps.take(0, g, d)
        return [CollapseDetector(every=every_k, verbose=False), snaps]

    results = {}
    for label, cfg in configs.items():
        t0 = time.perf_counter()
        r = run_configs({label: cfg}, callbacks=point_callbacks, progress=False)[label]
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

    results = run_configs(configs, data, experiment, output_dir, use_drive, callbacks=measure,
                          progress=False)
    for label, r in results.items():
        print(f"augment={r.cfg.augment!r}: {len(r.history['epoch'])} epochs in "
              f"{r.history['total_seconds']:.0f} s -> {r.run.path}")
    return [r.run.path for r in results.values()]


def results_table(results):
    """A printable table: one row per variant with the final 2D metrics and seconds.
    captured = modes holding a high-quality sample; reached = modes nearest to >= 1 % of all
    samples; outcome: 'not converged' (< 10 % high quality), 'collapse' (sharp, < 3/4 of the
    modes captured) or 'ok' (the CollapseDetector's defaults)."""
    head = (f"{'variant':<26}{'captured':>9}{'high quality':>14}{'reached':>9}{'mode KL':>9}"
            f"{'seconds':>9}  outcome")
    rows = [head, "-" * len(head)]
    for label, r in results.items():
        m = r.metrics
        outcome = point_outcome(m, len(mode_centers(r.cfg.dataset)))
        rows.append(f"{label:<26}{m['modes_captured']:>9}{m['high_quality_fraction']:>14.1%}"
                    f"{m['modes_reached']:>9}{m['mode_kl']:>9.2f}{r.seconds:>9.0f}  {outcome}")
    return "\n".join(rows)

