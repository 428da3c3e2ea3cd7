"""Measure notebook 05's settings on a real image folder: the own-image numbers over the run.

    python data_scripts/measure_own_images.py DATA.pt OUT.json [--steps 2000] [--augment diffaug]
        [--half-width] [--upsample nearest] [--batch 64] [--lr-g 2e-4] [--lr-d 2e-4] [--every-steps 250] [--seed 42]

DATA.pt: a folder prepared by data_scripts/prepare_images.py (data_scripts/get_debian_images.py
fetches the folders the defaults were chosen on). Trains DCGAN-64 through gh.train with a run
folder (so checkpoints are saved by wall time, as in the notebook), records the FolderMetrics
numbers (diversity MS-SSIM, checkerboard, memorisation, edge alignment) about every
--every-steps G steps, the seconds spent training, saving checkpoints and in all, and the load
average, into OUT.json. Set OMP_NUM_THREADS to share the CPU between measurements.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

import gan_helpers as gh
from gan_helpers.callbacks import FolderMetrics

HALF_WIDTH = dict(g_channels=[256, 128, 64, 32], d_channels=[32, 64, 128, 256])


def timed_checkpoints(run):
    """Wrap run.save_checkpoint to add up the seconds spent saving."""
    spent, save = [], run.save_checkpoint

    def save_and_time(state, epoch):
        t0 = time.perf_counter()
        path = save(state, epoch)
        spent.append(time.perf_counter() - t0)
        return path

    run.save_checkpoint = save_and_time
    return spent


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data")
    p.add_argument("out")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--augment", default="diffaug")
    p.add_argument("--half-width", action="store_true")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr-g", type=float, default=2e-4)
    p.add_argument("--lr-d", type=float, default=2e-4)
    p.add_argument("--every-steps", type=int, default=250)
    p.add_argument("--precision", default="auto")
    p.add_argument("--upsample", default=None, help="G's upsampling: transposed (the preset's), nearest")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--output-dir", default="outputs/measure_own_images")
    args = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    cfg = gh.RunConfig(dataset="folder", data_path=args.data, image_size=64, channels=3,
                       preset="dcgan64", augment=args.augment, batch_size=args.batch,
                       steps=args.steps, lr_g=args.lr_g, lr_d=args.lr_d, precision=args.precision,
                       seed=args.seed, wandb_mode="disabled", device="cpu", upsample=args.upsample,
                       checkpoint_minutes=3.0,  # as notebook 05's form
                       **(HALF_WIDTH if args.half_width else {}))
    data = gh.load_dataset(cfg)
    cfg = cfg.fit_steps(len(data))
    g_steps_per_epoch = cfg.steps // cfg.epochs if cfg.steps >= cfg.epochs else 1
    every = max(round(args.every_steps / max(len(data) // cfg.batch_size, 1)), 1)
    run = gh.start_run(cfg, "measure", args.output_dir, Path(args.out).stem)
    saves = timed_checkpoints(run)
    load_before, t0 = os.getloadavg(), time.perf_counter()
    history = gh.train(cfg, data, run, callbacks=[FolderMetrics(every=every)], progress=False)
    wall = time.perf_counter() - t0
    names = [n for n in gh.metrics.FOLDER_METRIC_NAMES if n in history]
    rows = [{"epoch": e, "g_steps": e * max(len(data) // cfg.batch_size, 1),
             **{n: history[n][i] for n in names}}
            for i, e in enumerate(history["epoch"]) if history[names[0]][i] is not None]
    summary = {"data": args.data, "images": len(data), "config": cfg.to_dict(),
               "epochs": cfg.epochs, "g_steps_per_epoch": g_steps_per_epoch,
               "training_seconds": sum(history["epoch_seconds"]), "wall_seconds": wall,
               "checkpoint_seconds": sum(saves), "checkpoints_saved": len(saves),
               "load_average_before": load_before, "load_average_after": os.getloadavg(),
               "threads": torch.get_num_threads(), "final_g_loss": history["g_loss"][-1],
               "final_d_fake": history["d_fake"][-1], "metrics": rows, "run_dir": str(run.path)}
    Path(args.out).write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k not in ("config", "metrics")}, indent=2))
    for row in rows:
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
