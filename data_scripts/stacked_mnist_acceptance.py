"""Stacked MNIST, 1,000 modes: DCGAN against packing and the modern baseline, on several seeds.

    python data_scripts/stacked_mnist_acceptance.py --seeds 0 1 [--steps N] [--samples N] --json PATH

Each variant (gan_helpers.experiments.stacked_mnist_configs, where a lesson reads them too)
trains for the same number of G steps on the 128,000 stacked digits, then draws `--samples`
images (26,000, as VEEGAN and PacGAN count) and counts the modes they cover and the KL of
their mode histogram against uniform (metrics.stacked_modes). Prints a table beside the
papers' numbers and writes the JSON:

    {"settings": {...}, "variants": {NAME: {SEED: {"role": "baseline"|"fix", "modes": int,
                                                   "kl": float, "steps": int, "seconds": float}}}}

GAN_HELPERS_QUICK=1 shrinks it to a smoke run (a few steps, 500 samples).
"""
import argparse
import json
import platform
import time
from pathlib import Path

import torch

import gan_helpers as gh
from gan_helpers import experiments, metrics
from gan_helpers.env import quick_mode

# The papers' Stacked-MNIST rows (modes of 1,000 / KL), each at its own budget and architecture
PUBLISHED = {"DCGAN (VEEGAN, Table 2)": "99 / 3.4", "DCGAN (PacGAN, Table 2)": "78.9 / 4.50",
             "PacDCGAN2 (PacGAN, Table 2)": "1000 / 0.06", "RpGAN + R1 + R2 (R3GAN)": "1000 / 0.029"}


def measure(name, cfg, samples):
    """Train one variant; (modes, KL, G steps, seconds) of `samples` images from it."""
    data = gh.load_dataset(cfg)
    G, D = gh.build_models(cfg)
    started = time.perf_counter()
    history = gh.train(cfg, data, models=(G, D), progress=False, live=False)
    seconds = time.perf_counter() - started
    with torch.no_grad():
        images = gh.generate(G, samples, seed=cfg.seed + 1)
    modes, kl = metrics.stacked_modes(images)
    steps = len(history["epoch"]) * max(len(data) // cfg.batch_size, 1) // cfg.critic_steps
    print(f"{name:>10} seed {cfg.seed}: {modes:4d} modes, KL {kl:.3f}, {steps} G steps, {seconds:.0f} s")
    return {"modes": modes, "kl": kl, "steps": steps, "seconds": seconds}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", required=True)
    p.add_argument("--steps", type=int, default=experiments.STACKED_STEPS)
    p.add_argument("--samples", type=int, default=26_000)
    p.add_argument("--json", required=True)
    args = p.parse_args(argv)
    quick = quick_mode()
    samples = min(args.samples, 500) if quick else args.samples
    out = {"settings": {"steps": args.steps, "samples": samples, "quick": quick,
                        "device": str(gh.env.pick_device()), "torch": torch.__version__,
                        "machine": platform.processor() or platform.machine(),
                        "date": time.strftime("%Y-%m-%d")},
           "variants": {}}
    for seed in args.seeds:
        for name, (role, cfg) in experiments.stacked_mnist_configs(seed, args.steps).items():
            row = measure(name, cfg.quick(quiet=True) if quick else cfg, samples)
            out["variants"].setdefault(name, {})[str(seed)] = {"role": role, **row}
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(table(out))
    return 0


def table(out):
    seeds = sorted({s for runs in out["variants"].values() for s in runs}, key=int)
    lines = ["| variant | role | " + " | ".join(f"seed {s}: modes / KL" for s in seeds) + " |",
             "|---|---|" + "---|" * len(seeds)]
    for name, runs in out["variants"].items():
        role = next(iter(runs.values()))["role"]
        cells = [f"{runs[s]['modes']} / {runs[s]['kl']:.2f}" if s in runs else "" for s in seeds]
        lines.append(f"| {name} | {role} | " + " | ".join(cells) + " |")
    lines += ["", f"{out['settings']['steps']} G steps each, {out['settings']['samples']} samples "
              f"counted, on {out['settings']['device']}. The papers, at their own budgets:"]
    lines += [f"- {k}: {v}" for k, v in PUBLISHED.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
