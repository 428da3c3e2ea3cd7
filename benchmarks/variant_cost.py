"""What a lesson's variants cost to train, measured as the price, not as a seed claim (issue 41).

    python benchmarks/variant_cost.py 02_architecture_variations [--steps 20] [--repeats 5] [--json PATH]

For each variant of the notebook's form (its `variants` over its `sets`, on this machine's device):
  - training FLOPs per G step, counted by torch's FlopCounterMode while train.train_epoch runs
    one G step's worth of batches (D on real and fake, both backwards, G's forward and backward,
    the penalty if any): what the step really computes, not one forward pass each;
  - seconds per G step, timed side by side in this one process, the variants interleaved
    round by round so that a change in the machine's load hits them all alike, reported as the
    median ratio to the first (the baseline) variant.
A shared machine's seconds move with its load; the ratio and the FLOPs do not.
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from gan_helpers.config import RunConfig
from gan_helpers.data import load_dataset
from gan_helpers.env import cpu_name
from gan_helpers.params import find_notebook, notebook_parameters
from gan_helpers.train import prepare, train_epoch


def configs(notebook):
    """{variant: RunConfig} of the notebook's form, fp32 unless its sets say otherwise."""
    form = notebook_parameters(find_notebook(notebook + ".ipynb"))
    sets = {k: v for k, v in (form.get("sets") or {}).items() if k in RunConfig.field_names()}
    return {name: RunConfig(**{**sets, **overrides, "wandb_mode": "disabled"}).validate()
            for name, overrides in form["variants"].items()}


def flops_per_g_step(cfg, gan, data):
    """FLOPs of one G step's worth of training (critic_steps batches), counted as it runs."""
    counter = FlopCounterMode(display=False)
    with counter:
        train_epoch(cfg, gan, data, max_steps=cfg.critic_steps)
    return counter.get_total_flops()


def seconds_per_g_step(cfg, gan, data, steps):
    start = time.perf_counter()
    torch.cat(train_epoch(cfg, gan, data, max_steps=steps * cfg.critic_steps)).tolist()  # one host sync
    return (time.perf_counter() - start) / steps


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("notebook", help="a lesson with `variants` and `sets`, e.g. 02_architecture_variations")
    p.add_argument("--steps", type=int, default=20, help="G steps timed per variant and round")
    p.add_argument("--repeats", type=int, default=5, help="rounds, each timing every variant once")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args(argv)
    cfgs = configs(a.notebook)
    prepared = {}
    for name, cfg in cfgs.items():
        gan, data = prepare(cfg, load_dataset(cfg))
        seconds_per_g_step(cfg, gan, data, 3)  # warm-up: allocator, kernels chosen
        prepared[name] = (cfg, gan, data, flops_per_g_step(cfg, gan, data))
    times = {name: [] for name in cfgs}
    for _ in range(a.repeats):  # interleaved: every variant once per round
        for name, (cfg, gan, data, _) in prepared.items():
            times[name].append(seconds_per_g_step(cfg, gan, data, a.steps))
    base = next(iter(cfgs))
    rows = {name: {"train_gflops_per_g_step": flops / 1e9, "s_per_g_step": statistics.median(times[name]),
                   "ratio_to_" + base: statistics.median(t / b for t, b in zip(times[name], times[base]))}
            for name, (_, _, _, flops) in prepared.items()}
    first = next(iter(cfgs.values()))
    out = {"notebook": a.notebook, "batch_size": first.batch_size, "precision": first.precision,
           "device": str(prepared[base][1].device), "cpu": cpu_name(), "torch": torch.__version__,
           "torch_threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d"),
           "command": "python benchmarks/variant_cost.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "variants": rows}
    print(f"{'variant':22} {'GFLOPs/G step':>14} {'s/G step':>9} {'x ' + base:>16}")
    for name, r in rows.items():
        print(f"{name:22} {r['train_gflops_per_g_step']:14.2f} {r['s_per_g_step']:9.3f} {r['ratio_to_' + base]:16.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
