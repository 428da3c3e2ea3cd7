"""Several configs trained one after another in this process, each kept as a `Result`.

`run_configs` is the one runner: the 2D lesson of notebook 04 (`train_variants`, seconds per
variant), its MNIST pair, and notebook 05's augmentation lesson (`train_augmentation_variants`)
all go through it. Whole notebooks as separate processes are sweep.py's job.
"""
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from .callbacks import (CollapseDetector, FolderMetrics, PointSnapshots, StackedModeCounter, hops,
                        run_outcome)
from .compare import seed_summary, seed_tables, step_numbers
from .config import RunConfig
from .data import STACKED_MNIST_SIZE, Dataset, load_dataset
from .env import output_root, quick_mode
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



# ---- Stacked MNIST (1,000 modes): notebook 06 -----------------------------------------------
STACKED_STEPS = 8_000  # G steps each: four passes over the 128,000 images at batch 64
# D's width: its three convs have w, 2w and 4w channels. The capacity curve runs DCGAN at each;
# the fixes run at STACKED_FIX_WIDTH, where DCGAN collapses (measured: docs/results/06_*)
STACKED_WIDTHS = (2, 4, 8, 16)
STACKED_FIX_WIDTH = 2
STACKED_METRICS = ("stacked_modes", "stacked_kl", "stacked_readable", "s_per_step")
# The papers' Stacked-MNIST rows (modes of 1,000 / KL), each at its own budget and architecture
STACKED_PUBLISHED = {"DCGAN (VEEGAN, Table 2)": "99 / 3.4", "DCGAN (PacGAN, Table 2)": "78.9 / 4.50",
                     "PacDCGAN2 (PacGAN, Table 2)": "1000 / 0.06",
                     "DCGAN, D = 1/4 G (PacGAN, Table 3)": "30.6 / 5.99",
                     "PacDCGAN2, D = 1/4 G (PacGAN, Table 3)": "484.5 modes",
                     "RpGAN + R1 + R2 (R3GAN)": "1000 / 0.029"}


def stacked_mnist_runs(seeds=(1, 2), steps=STACKED_STEPS, widths=STACKED_WIDTHS,
                       fix_width=STACKED_FIX_WIDTH, r1_gamma=1.0, batch_size=64, wandb_mode="disabled"):
    """{run name: (variant, seed, RunConfig)}: Unrolled GAN's small G (preset "unrolled_gan")
    against D's of each width in `widths` as DCGAN ("dcgan_d<w>"), and at `fix_width` the two
    fixes with the same G and D: packing ("pacgan2_d<w>", D judges two samples at once) and
    R3GAN's loss ("rpgan_r1r2_d<w>"); each for `steps` G steps under every seed. Quick mode
    keeps the first seed and shrinks each run."""
    if isinstance(seeds, int) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise ValueError(f"seeds={seeds!r}: give a list of whole numbers, e.g. [1, 2] (one run of "
                         f"each variant per seed).")
    seeds = list(seeds)[:1] if quick_mode() else list(seeds)
    base = RunConfig(dataset="stacked_mnist", channels=3, preset="unrolled_gan", batch_size=batch_size,
                     steps=steps, precision="fp32", wandb_mode=wandb_mode)
    variants = {f"dcgan_d{w}": base.replace(d_channels=[w, 2 * w, 4 * w]) for w in widths}
    fix_d = [fix_width, 2 * fix_width, 4 * fix_width]
    variants[f"pacgan2_d{fix_width}"] = base.replace(d_channels=fix_d, pack=2)
    variants[f"rpgan_r1r2_d{fix_width}"] = base.replace(d_channels=fix_d, loss="rpgan", r1_gamma=r1_gamma)
    runs = {}
    for seed in seeds:
        for variant, cfg in variants.items():
            cfg = cfg.replace(seed=seed).fit_steps(STACKED_MNIST_SIZE, quiet=True)
            runs[f"{variant}_seed-{seed}"] = (variant, seed, cfg.quick(quiet=True) if quick_mode() else cfg)
    return runs


def train_stacked_mnist(runs, samples=26_000, experiment="06_stacked_mnist_1000_modes",
                        output_dir="outputs", use_drive=False, jobs=1):
    """Train the runs of stacked_mnist_runs, `jobs` at a time (each in its own process, with its
    share of the CPU cores), each in its folder <experiment>/<run name>, and count the modes of
    `samples` fresh images of each (26,000, as VEEGAN and PacGAN count; 500 in quick mode).
    A run that already finished with the same config is read back, not trained again. Returns
    one row per run: variant, seed, status, modes, KL, readable share, G steps and seconds."""
    samples = min(samples, 500) if quick_mode() else samples  # quick mode proves the code only
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs={jobs!r}: give the number of runs to train at a time, 1 or more "
                         f"(2 on a 2-core CPU; 1 on one GPU).")
    root = output_root(str(output_dir), use_drive) / experiment
    root.mkdir(parents=True, exist_ok=True)
    todo = {name: run for name, run in runs.items() if finished_history(root / name, run[2]) is None}
    print(f"{len(runs)} runs ({len(runs) - len(todo)} already finished), {jobs} at a time; a line "
          f"as each ends.", flush=True)
    failed = _train_in_processes(todo, samples, root, jobs)
    rows = [stacked_row(name, variant, seed, root / name, cfg, failed.get(name))
            for name, (variant, seed, cfg) in runs.items()]
    # as a sweep writes it: gh.report(<experiment folder>) and the gallery read the seed tables
    (root / "summary.json").write_text(json.dumps(rows, indent=1) + "\n")
    return rows


def _train_in_processes(todo, samples, root, jobs):
    """Each run trained by train_one_stacked: in this process one after another when jobs is 1,
    else in its own Python process, `jobs` at a time. A line as each ends; returns {run name:
    error} of the runs that failed (one failure leaves the others' results standing)."""
    failed = {}

    def report(i, name, line, error):
        if error:
            failed[name] = error
        print(f"[{i}/{len(todo)}] {line or f'{name}: failed, {error}'}", flush=True)

    if jobs == 1:
        for i, (name, (_, _, cfg)) in enumerate(todo.items(), 1):
            report(i, name, *_outcome(train_one_stacked, name, cfg, samples, str(root)))
        return failed
    threads = max(1, (os.cpu_count() or 1) // jobs)  # two runs on 2 cores: one thread each
    with ThreadPoolExecutor(jobs) as pool:  # each thread waits on one child process
        futures = {pool.submit(_outcome, _train_in_child, name, cfg, samples, root, threads): name
                   for name, (_, _, cfg) in todo.items()}
        for i, future in enumerate(as_completed(futures), 1):
            report(i, futures[future], *future.result())
    return failed


def _outcome(fn, *args):
    """(fn's result, None), or (None, the error it raised, in one line)."""
    try:
        return fn(*args), None
    except Exception as error:
        return None, f"{type(error).__name__}: {error}"


def _train_in_child(name, cfg, samples, root, threads):
    """train_one_stacked in a new Python process (a process of its own: torch's threads, memory
    and a crash stay there). Its last line of output is the run's line."""
    code = ("import json, sys; from gan_helpers.config import RunConfig; "
            "from gan_helpers.experiments import train_one_stacked; a = json.loads(sys.argv[1]); "
            "print(train_one_stacked(a['name'], RunConfig.from_dict(a['cfg']), a['samples'], a['root'], a['threads']))")
    args = json.dumps(dict(name=name, cfg=cfg.to_dict(), samples=samples, root=str(root), threads=threads))
    done = subprocess.run([sys.executable, "-c", code, args], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError((done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1])
    return done.stdout.strip().splitlines()[-1]


def train_one_stacked(name, cfg, samples, root, threads=0):
    """One Stacked-MNIST run, trained to its end and counted (StackedModeCounter) after the last
    epoch; returns a line saying what it gave. `threads`: torch threads (0 = as they are)."""
    if threads:
        torch.set_num_threads(threads)
    counter = StackedModeCounter(every=cfg.epochs, n=samples)
    run = Run(cfg, Path(root).name, Path(root).parent, name)
    history = train(cfg, load_dataset(cfg), run, callbacks=[counter], progress=False)
    return (f"{name}: {history['stacked_modes'][-1]} modes, KL {history['stacked_kl'][-1]:.2f}, "
            f"readable {history['stacked_readable'][-1]:.2f}, {sum(history['epoch_seconds']):.0f} s")


TRACKING_ONLY = ("wandb_mode", "wandb_project")  # where a run is logged, not what it trains


def finished_history(folder, cfg):
    """The history of a run folder that trained `cfg` (where it was logged aside) to its end and
    counted its modes, or None."""
    try:
        saved = RunConfig.from_json(folder / "hyperparameters.json")
        same = saved.replace(**{f: getattr(cfg, f) for f in TRACKING_ONLY}) == cfg
        history = json.loads((folder / "training_metrics.json").read_text())
    except (OSError, ValueError):
        return None
    counted = (history.get("stacked_modes") or [None])[-1] is not None
    return history if same and counted and len(history["epoch"]) == cfg.epochs else None


def stacked_row(name, variant, seed, folder, cfg, error=None):
    """One run's row for tables and claims (lessons.check_claims reads these columns)."""
    history = None if error else finished_history(folder, cfg)
    row = {"run": name, "variant": variant, "seed": seed, "width": cfg.d_channels[0],
           "pack": cfg.pack, "loss": cfg.loss, "status": "finished" if history else "failed",
           "error": error, "run_dir": str(folder)}
    if history:
        row.update({m: history[m][-1] for m in STACKED_METRICS if m in history}, **step_numbers(history))
        # the weights each network had, as the run folder records them (compare_runs reads the same)
        info = json.loads((folder / "hyperparameters.json").read_text())
        row["params_G"], row["params_D"] = info["parameters"]
    return row


def stacked_summary(rows):
    """Each variant's mean ± spread over its seeds (compare.seed_summary), with D's weights."""
    by_variant = seed_summary(rows, list(STACKED_METRICS))
    weights = {r["variant"]: r["params_D"] for r in rows if r.get("params_D")}
    return [{**v, "params_D": weights.get(v["variant"])} for v in by_variant]


def stacked_table(rows):
    """The runs' modes, KL and readable share as a markdown table, mean ± spread and each seed's
    value per variant, then the papers' rows."""
    metrics, means, _ = seed_tables(stacked_summary(rows), STACKED_METRICS)
    per_seed = {v: "; ".join(f"{r['seed']}: {r['stacked_modes']}" for r in rows
                             if r["variant"] == v and r.get("stacked_modes") is not None)
                for v in dict.fromkeys(r["variant"] for r in rows)}
    lines = ["| variant | D weights | seeds | " + " | ".join(metrics) + " | modes, seed by seed |",
             "|" + "---|" * (len(metrics) + 4)]
    weights = {r["variant"]: r.get("params_D") for r in rows}
    for row in means:
        lines.append(f"| {row[0]} | {weights[row[0]] or ''} | " + " | ".join(row[1:]) + f" | {per_seed[row[0]]} |")
    lines += ["", "The papers (modes of 1,000 / KL), each with its own networks and budget:", ""]
    return "\n".join(lines + [f"- {k}: {v}" for k, v in STACKED_PUBLISHED.items()])
