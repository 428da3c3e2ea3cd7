"""Reproduce notebook 04's 2D acceptance figures: vanilla GAN vs WGAN-GP on the 8-ring.

    python data_scripts/toy_acceptance.py --seeds 42 1 2

Trains the same configs as notebook 04 Part 1 (full mode, on the CPU) for each seed and
prints modes captured, high-quality fraction, mode KL and training seconds. Targets:
vanilla GAN <= 4/8 modes; WGAN-GP 8/8 modes with >= 90 % high-quality samples; each well
within 2 CPU minutes on a 2-core machine (timings on a shared machine are inflated).
"""
import argparse
import os

import torch

os.environ.pop("GAN_HELPERS_QUICK", None)  # the acceptance figures are full-mode figures

from gan_helpers import RunConfig  # noqa: E402
from gan_helpers.variants import results_table, train_variants  # noqa: E402


def lesson_configs(dataset="ring8", epochs=60, wgan_epochs=120, seed=42):
    """The variants of notebook 04 Part 1 (keep the two in step)."""
    common = dict(dataset=dataset, seed=seed, noise_dim=2, max_images=20000, batch_size=256,
                  device="cpu", wandb_mode="disabled")
    bce = dict(common, loss="bce", epochs=epochs, betas_g=(0.5, 0.999), betas_d=(0.5, 0.999))
    return {
        "vanilla GAN": RunConfig(**bce, lr_g=1e-3, lr_d=1e-4).validate(),
        "WGAN-GP": RunConfig(**common, loss="wgan-gp", epochs=wgan_epochs, gp_lambda=1.0,
                             lr_g=3e-3, lr_d=3e-3, betas_g=(0.5, 0.9), betas_d=(0.5, 0.9),
                             lr_decay="linear").validate(),
        "balanced BCE": RunConfig(**bce, lr_g=1e-3, lr_d=1e-3).validate(),
    }


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
        results = train_variants(lesson_configs(args.dataset, seed=seed), verbose=False)
        print(results_table(results), flush=True)


if __name__ == "__main__":
    main()
