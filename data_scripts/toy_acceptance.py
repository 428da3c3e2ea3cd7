"""Reproduce notebook 04's 2D acceptance figures: vanilla GAN vs WGAN-GP on the 8-ring.

    python data_scripts/toy_acceptance.py --seeds 42 1 2

Trains notebook 04 Part 1's configs (`gh.toy_lesson_configs`: one definition for both; full
mode, on the CPU) for each seed and
prints modes captured, high-quality fraction, mode KL and training seconds. Targets:
vanilla GAN <= 4/8 modes; WGAN-GP 8/8 modes with >= 90 % high-quality samples; each well
within 2 CPU minutes on a 2-core machine (timings on a shared machine are inflated).
"""
import argparse
import os

import torch

os.environ.pop("GAN_HELPERS_QUICK", None)  # the acceptance figures are full-mode figures

import gan_helpers as gh  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[42])
    p.add_argument("--dataset", default="ring8", choices=["ring8", "grid25"])
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads; 1 is fastest for these tiny MLPs (0 = torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for seed in args.seeds:
        print(f"=== seed {seed}")
        results = gh.train_variants(gh.toy_lesson_configs(args.dataset, seed=seed), verbose=False)
        print(gh.results_table(results), flush=True)


if __name__ == "__main__":
    main()
