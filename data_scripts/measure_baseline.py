"""A baseline run measured every epoch: the same gan_helpers calls as notebook 01, with the
quality metrics after every epoch instead of every 5 (issue 11), and any field changed.

    python data_scripts/measure_baseline.py --precision fp32 --epochs 25 [--out outputs]
    python data_scripts/measure_baseline.py --seed 101 --set batch_size=64 max_images=12800 --epochs 30

The second form is the claims' budget study (issue 41): notebook 02's baseline at batch 64, one
epoch = 200 G steps, so FID is read every 200 steps and a budget can be chosen where the baseline
draws digits on every seed. Each epoch's losses, class coverage, class KL and classifier-FID land
in the run folder's training_metrics.json; the fixed-noise grids in images/.

    python data_scripts/measure_baseline.py --summary docs/acceptance/budget_study.json --out DIR

reads every run under DIR/measure_baseline/ and writes, per run, FID and class coverage after each
epoch and the late FID (compare.LATE: the mean of the last 5 readings) at each epoch.
"""
import json
import statistics
import sys
from pathlib import Path
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
    p.add_argument("--summary", metavar="JSON", help="summarise the runs under --out instead of training")
    a = p.parse_args()
    if a.summary:
        return summarise(Path(a.out) / "measure_baseline", Path(a.summary))
    fields = parse_assignments(a.set, split_values=False)
    cfg = gh.RunConfig(**{**fields, "epochs": a.epochs, "precision": a.precision, "seed": a.seed,
                          "wandb_mode": "disabled"}).validate()  # the rest: notebook 01's defaults
    print(gh.gpu_report())
    run = gh.start_run(cfg, "measure_baseline", a.out, a.name or f"{a.precision}-seed{a.seed}")
    gh.train(cfg, gh.load_dataset(cfg), run, callbacks=gh.quality_callbacks(cfg, every=1))



def summarise(folder, out):
    """Each run's FID and coverage per epoch, and the late FID (mean of the last LATE readings)."""
    from gan_helpers.compare import LATE
    runs = {}
    for run in sorted(p for p in folder.iterdir() if (p / "training_metrics.json").is_file()):
        history = json.loads((run / "training_metrics.json").read_text())
        config = json.loads((run / "hyperparameters.json").read_text())["config"]
        fid, steps = history["fid"], history["step_g_loss"]
        g_steps = [sum(len(s) for s in steps[:i + 1]) for i in range(len(steps))]
        late = [statistics.fmean(fid[max(0, i + 1 - LATE):i + 1]) for i in range(len(fid))]
        runs[run.name] = {"seed": config["seed"], "precision": config["precision"], "g_steps": g_steps,
                          "fid": fid, "fid_late": late, "class_coverage": history["class_coverage"],
                          "train_seconds": sum(history["epoch_seconds"])}
    settings = {k: config[k] for k in ("preset", "batch_size", "max_images", "lr_g", "lr_d", "loss")}
    out.write_text(json.dumps({"settings": settings, "cpu": gh.env.cpu_name(),
                               "command": "python data_scripts/measure_baseline.py " + " ".join(sys.argv[1:]),
                               "late_window": LATE, "runs": runs}, indent=1) + "\n")
    print(f"wrote {out}: {len(runs)} runs")


if __name__ == "__main__":
    main()
