"""Notebook 01's default full run, measured every epoch (issue 11): the same gan_helpers calls
as the notebook, with the quality metrics after every epoch instead of every 5.

    python data_scripts/measure_baseline.py --precision fp32 --epochs 25 [--out outputs]

Each epoch's losses, class coverage, class KL and classifier-FID land in the run folder's
training_metrics.json; the fixed-noise grids in images/.
"""
import argparse

import gan_helpers as gh
from gan_helpers.config import PRECISIONS


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--precision", default="auto", choices=PRECISIONS)
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default="outputs")
    a = p.parse_args()
    cfg = gh.RunConfig(epochs=a.epochs, precision=a.precision, seed=a.seed,
                       wandb_mode="disabled").validate()  # everything else: notebook 01's defaults
    print(gh.gpu_report())
    run = gh.start_run(cfg, "measure_baseline", a.out, f"{a.precision}-seed{a.seed}")
    gh.train(cfg, gh.load_dataset(cfg), run, callbacks=gh.quality_callbacks(cfg, every=1))


if __name__ == "__main__":
    main()
