"""A baseline run measured every epoch: the same gan_helpers calls as notebook 01, with the
quality metrics after every epoch instead of every 5 (issue 11), and any field changed.

    python data_scripts/measure_baseline.py --precision fp32 --epochs 25 [--out outputs]
    python data_scripts/measure_baseline.py --seed 101 --set batch_size=64 max_images=12800 --epochs 30

The second form is the claims' budget study (issue 41): notebook 02's baseline at batch 64, one
epoch = 200 G steps, so FID is read every 200 steps and a budget can be chosen where the baseline
draws digits on every seed. Each epoch's losses, class coverage, class KL and classifier-FID land
in the run folder's training_metrics.json; the fixed-noise grids in images/.
"""
import argparse

import gan_helpers as gh
from gan_helpers.config import PRECISIONS
from gan_helpers.params import parse_assignments


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--precision", default="auto", choices=PRECISIONS)
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="other RunConfig fields")
    p.add_argument("--out", default="outputs")
    p.add_argument("--name", help="the run's name (default: PRECISION-seedSEED)")
    a = p.parse_args()
    fields = parse_assignments(a.set, split_values=False)
    cfg = gh.RunConfig(**{**fields, "epochs": a.epochs, "precision": a.precision, "seed": a.seed,
                          "wandb_mode": "disabled"}).validate()  # the rest: notebook 01's defaults
    print(gh.gpu_report())
    run = gh.start_run(cfg, "measure_baseline", a.out, a.name or f"{a.precision}-seed{a.seed}")
    gh.train(cfg, gh.load_dataset(cfg), run, callbacks=gh.quality_callbacks(cfg, every=1))


if __name__ == "__main__":
    main()
