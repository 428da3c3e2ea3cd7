"""Stacked MNIST, 1,000 modes: DCGAN against packing and the modern baseline, on several seeds.

    python data_scripts/stacked_mnist_acceptance.py --seeds 0 1 [--steps N] [--samples N] --json PATH

Each variant (gh.stacked_mnist_configs, trained by gh.train_stacked_mnist, as a lesson would)
trains for the same number of G steps on the 128,000 stacked digits, then draws
`--samples` images (26,000, as VEEGAN and PacGAN count) and counts the modes they cover and the
KL of their mode histogram against uniform (metrics.stacked_modes). Prints a table beside the
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
from gan_helpers import experiments
from gan_helpers.env import quick_mode

PUBLISHED = experiments.STACKED_PUBLISHED


def run_seed(seed, steps, samples):
    """{name: row} for one seed: each variant trained and counted by gh.train_stacked_mnist."""
    rows = {}
    for name, r in gh.train_stacked_mnist(gh.stacked_mnist_configs(seed, steps), samples,
                                          progress=False).items():
        rows[name] = {**r.metrics, "seconds": round(r.seconds, 1)}
        print(f"{name:>12} seed {seed}: {r.metrics['modes']:4d} modes, KL {r.metrics['kl']:.3f}, "
              f"{r.metrics['steps']} G steps, {r.seconds:.0f} s", flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", required=True)
    p.add_argument("--steps", type=int, default=experiments.STACKED_STEPS)
    p.add_argument("--samples", type=int, default=26_000)
    p.add_argument("--json", required=True)
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads (1: two scripts can share a 2-core CPU; 0 = torch's default)")
    args = p.parse_args(argv)
    quick = quick_mode()
    samples = min(args.samples, 500) if quick else args.samples
    out = {"settings": {"steps": args.steps, "samples": samples, "quick": quick,
                        "d_channels": list(experiments.STACKED_D_CHANNELS),
                        "device": str(gh.env.pick_device()), "torch": torch.__version__,
                        "machine": platform.processor() or platform.machine(),
                        "date": time.strftime("%Y-%m-%d")},
           "variants": {}}
    if args.threads:
        torch.set_num_threads(args.threads)
    out["settings"]["threads"] = torch.get_num_threads()
    for seed in args.seeds:
        for name, row in run_seed(seed, args.steps, samples).items():
            out["variants"].setdefault(name, {})[str(seed)] = row
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
