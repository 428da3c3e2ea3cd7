"""Train a few small configs one after another in this process and keep what a lesson shows.

For the tiny 2D models of notebook 04 (seconds each); image runs belong in their own run
folders, one process each (see sweep.py). Every variant gets a CollapseDetector (metrics in
its history) and, for 2D data, snapshots of samples and the critic's landscape for the player.
"""
import time
from types import SimpleNamespace

import torch

from .data import load_dataset
from .metrics import CollapseDetector, point_metrics
from .models import build_models
from .train import generate, train

EVAL_SAMPLES = 2000  # fresh samples per 2D evaluation (seeded, so comparable across runs)


class PointSnapshots:
    """Callback: every `every` epochs keep fixed-noise samples and the critic's value on a
    grid x grid lattice over [-lim, lim]^2 (for the snapshot player)."""

    def __init__(self, every=1, n=500, lim=3.0, grid=60, seed=0):
        self.every, self.n, self.lim, self.grid, self.seed = every, n, lim, grid, seed
        self.snapshots = []

    def take(self, epoch, g, d):
        xs = torch.linspace(-self.lim, self.lim, self.grid)
        gx, gy = torch.meshgrid(xs, xs, indexing="xy")
        pts = torch.stack([gx.flatten(), gy.flatten()], 1)
        device = next(d.parameters()).device
        was_training = d.training
        d.eval()
        with torch.no_grad():
            values = d(pts.to(device)).float().cpu().view(self.grid, self.grid)
        d.train(was_training)
        self.snapshots.append({"epoch": epoch, "lim": self.lim, "critic": values,
                               "samples": generate(g, self.n, seed=self.seed).cpu()})

    def __call__(self, state):
        if state.epoch % self.every == 0 or state.epoch == state.cfg.epochs:
            self.take(state.epoch, state.generator, state.discriminator)


def train_variants(configs, every=None, verbose=True):
    """{label: RunConfig} (2D data) -> {label: result}; result has cfg, history, generator,
    critic, snapshots, metrics (final modes_captured / high_quality_fraction / mode_kl on
    EVAL_SAMPLES fresh samples), detector, seconds (training only) and data."""
    results = {}
    for label, cfg in configs.items():
        cfg.validate()
        if not cfg.is_points:
            raise ValueError(f"variant {label!r} has dataset={cfg.dataset!r}: train_variants is "
                             f"for the 2D sets (ring8, grid25); train image runs with gh.train.")
    for label, cfg in configs.items():
        every_k = every or max(cfg.epochs // 10, 1)
        data = load_dataset(cfg)
        g, d = build_models(cfg)
        snaps = PointSnapshots(every=every_k)
        snaps.take(0, g, d)
        detector = CollapseDetector(every=every_k, verbose=False)
        t0 = time.perf_counter()
        history = train(cfg, data, models=(g, d), callbacks=[detector, snaps], progress=False)
        final = point_metrics(generate(g, EVAL_SAMPLES, seed=1), cfg.dataset)
        seconds = sum(history["epoch_seconds"])
        if verbose:
            print(f"{label:>24}: {final['modes_captured']}/{8 if cfg.dataset == 'ring8' else 25} modes, "
                  f"{final['high_quality_fraction']:.1%} high quality, mode KL {final['mode_kl']:.2f} "
                  f"({seconds:.0f} s training, {time.perf_counter() - t0:.0f} s with evaluation)")
        results[label] = SimpleNamespace(cfg=cfg, history=history, generator=g, critic=d,
                                         snapshots=snaps.snapshots, metrics=final,
                                         detector=detector, seconds=seconds, data=data)
    return results


def results_table(results):
    """A printable table: one row per variant with the final 2D metrics and seconds."""
    head = f"{'variant':<26}{'modes':>7}{'high quality':>14}{'mode KL':>9}{'seconds':>9}"
    rows = [head, "-" * len(head)]
    for label, r in results.items():
        m = r.metrics
        rows.append(f"{label:<26}{m['modes_captured']:>7}{m['high_quality_fraction']:>14.1%}"
                    f"{m['mode_kl']:>9.2f}{r.seconds:>9.0f}")
    return "\n".join(rows)

