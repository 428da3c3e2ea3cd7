"""Notebook 04's acceptance numbers on any seeds: its own Part 1 and Part 2 configs, per seed.

    python data_scripts/collapse_acceptance.py --seeds 1 2 3 --json collapse.json [--part 1]

Part 1 trains `gh.toy_lesson_configs` (ring8) through `gh.train_variants`, Part 2
`gh.mnist_lesson_configs` through `gh.train_mnist_lesson`: the functions the notebook calls,
at the notebook's defaults, in full mode. Prints one table per part and whether the targets
hold (issue 21):
  Part 1, vanilla GAN: modes_reached <= 2 in >= 80 % of the snapshots after the first tenth,
          the dominant mode changing >= 3 times; every cure: 8/8 captured, >= 80 % high quality.
  Part 2, collapse-prone run: class coverage <= 4/10 in >= 70 % of the epochs, final class KL
          >= 0.8; the cure: >= 9/10 at the end, class KL <= 0.3, final FID below the other's.
The JSON holds every snapshot's (Part 1) and epoch's (Part 2) numbers. Timings on a shared
machine are inflated; the JSON's settings say how many torch threads ran.
"""
import argparse
import json
import os
import platform
import time

import torch

os.environ.pop("GAN_HELPERS_QUICK", None)  # the acceptance numbers are full-mode numbers

import gan_helpers as gh  # noqa: E402
from gan_helpers.callbacks import hops  # noqa: E402

PART1_KEYS = ("modes_captured", "modes_reached", "high_quality_fraction", "dominant_mode")
PART2_KEYS = ("class_coverage", "class_kl", "fid")


def column(history, key):
    return [v for v in history[key] if v is not None]


def only(configs, labels):
    """The configs named in `labels` (all when none): runs of one seed can go side by side."""
    return {k: c for k, c in configs.items() if not labels or k in labels}


def part1(seed, labels=()):
    results = gh.train_variants(only(gh.toy_lesson_configs(seed=seed), labels), verbose=False)
    print(gh.results_table(results), flush=True)
    return {label: dict(role=gh.LESSON_ROLES[label], seconds=round(r.seconds, 1),
                        **{k: column(r.history, k) for k in PART1_KEYS})
            for label, r in results.items()}


def part2(seed, data, labels=()):
    results = gh.train_mnist_lesson(only(gh.mnist_lesson_configs(seed=seed), labels), data,
                                    verbose=False, progress=False)
    return {label: dict(role=gh.LESSON_ROLES[label], seconds=round(r.seconds, 1),
                        **{k: column(r.history, k) for k in PART2_KEYS})
            for label, r in results.items()}


def part1_verdict(entry):
    if entry["role"] == "collapse":
        few, n, moves = hops({"modes_reached": entry["modes_reached"],
                              "dominant_mode": entry["dominant_mode"]})
        return few >= 0.8 * n and moves >= 3, f"{few}/{n} snapshots on <= 2 modes, {moves} moves"
    ok = entry["modes_captured"][-1] == 8 and entry["high_quality_fraction"][-1] >= 0.8
    return ok, f"{entry['modes_captured'][-1]}/8, {entry['high_quality_fraction'][-1]:.0%} high quality"


def part2_verdict(entry, other_fid):
    cov, kl, fid = entry["class_coverage"], entry["class_kl"], entry["fid"]
    if entry["role"] == "collapse":
        low = sum(c <= 4 for c in cov)
        return low >= 0.7 * len(cov) and kl[-1] >= 0.8, f"{low}/{len(cov)} epochs <= 4/10, KL {kl[-1]:.2f}"
    ok = cov[-1] >= 9 and kl[-1] <= 0.3 and fid[-1] < other_fid
    return ok, f"{cov[-1]}/10, KL {kl[-1]:.2f}, FID {fid[-1]:.0f} vs {other_fid:.0f}"


def report(out):
    print("\n=== targets")
    for seed, variants in out["part1"].items():
        for label, entry in variants.items():
            ok, why = part1_verdict(entry)
            print(f"part 1 seed {seed:>5} {label:<16} {'met' if ok else 'NOT met'}: {why}")
    for seed, variants in out["part2"].items():
        fids = {label: e["fid"][-1] for label, e in variants.items()}
        for label, entry in variants.items():
            other = [f for k, f in fids.items() if k != label]
            ok, why = part2_verdict(entry, other[0] if other else float("nan"))
            print(f"part 2 seed {seed:>5} {label:<16} {'met' if ok else 'NOT met'}: {why}")
            print(f"    coverage {entry['class_coverage']}  KL {[round(v, 2) for v in entry['class_kl']]}"
                  f"  FID {[round(v) for v in entry['fid']]}")


def by_variant(per_seed):
    """{seed: {variant: entry}} -> {variant: {seed: entry}}, the JSON's order."""
    out = {}
    for seed, variants in per_seed.items():
        for label, entry in variants.items():
            out.setdefault(label, {})[seed] = entry
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[42])
    p.add_argument("--json", help="write every number here")
    p.add_argument("--part", choices=["1", "2", "both"], default="both")
    p.add_argument("--only", nargs="+", default=[], metavar="LABEL",
                   help="train only these variants (e.g. \"small D\"), to run one seed's side by side")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: two scripts can share a 2-core CPU; 0 = torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = {"settings": {"seeds": args.seeds, "threads": torch.get_num_threads(),
                        "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                        "part1": {k: c.to_dict() for k, c in gh.toy_lesson_configs().items()},
                        "part2": {k: c.to_dict() for k, c in gh.mnist_lesson_configs().items()}},
           "part1": {}, "part2": {}}
    started = time.perf_counter()
    data = None
    for seed in args.seeds:
        if args.part in ("1", "both"):
            print(f"=== part 1, seed {seed}", flush=True)
            out["part1"][str(seed)] = part1(seed, args.only)
        if args.part in ("2", "both"):
            print(f"=== part 2, seed {seed}", flush=True)
            data = data or gh.load_dataset(next(iter(gh.mnist_lesson_configs().values())))
            out["part2"][str(seed)] = part2(seed, data, args.only)
    report(out)
    out["settings"]["wall_seconds"] = round(time.perf_counter() - started, 1)
    out["part1"], out["part2"] = by_variant(out["part1"]), by_variant(out["part2"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
