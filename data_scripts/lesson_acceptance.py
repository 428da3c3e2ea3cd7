"""A lesson's claims on any seeds: run the lesson's own default grid once per seed, check every claim.

    python data_scripts/lesson_acceptance.py 02_architecture_variations --seeds 21 22 23 24 25 --json 02.json [--jobs 2]
    python data_scripts/lesson_acceptance.py 06_stacked_mnist_1000_modes --seeds 21 22 23 24 25 --json 06.json

Confirmation seeds only: a seed any claim was chosen on (gan_helpers/lessons.py, `discovery_seeds`)
is refused, and so is a seed the A/A control's stream (seed + 1000) would reuse. Each claim gets
the paired test's verdict (compare.paired_test, at least 5 seeds): confirmed, refuted or
inconclusive; with fewer seeds each seed's values are written and the verdict says the seeds are
too few.

The grid is the notebook's parameters cell as committed, run exactly as the notebook runs it, in
full mode; only the seeds are the ones given. Notebooks 02 and 03: its `variants` or `grid`, and
`sets`, through notebook 01 by gh.run_sweep. Notebook 06: its D widths, fixes and budget through
gh.stacked_mnist_runs and gh.train_stacked_mnist. The claims are gan_helpers/lessons.py's. Prints the table by variant
(mean ± spread over the seeds) and the claims, and writes JSON:

    {"notebook": ..., "settings": {...}, "seeds": [...],
     "variants": {VARIANT: {SEED: {METRIC: value, ..., "seconds": s, "g_steps": n}}},
     "claims": [{"text": ..., "a": ..., "b": ..., "metric": ..., "direction": ">"|"<",
                 "per_seed": {SEED: [a_value, b_value]}, "mean": [a, b], "spread": [a, b],
                 "verdict": "confirmed"|"refuted"|"inconclusive", "too_few_seeds": bool,
                 "test": {"t", "p_higher", "p_lower", "effect"}, "control": A/A mean difference}]}

Runs go to <out>/sweeps/<the notebook's experiment>-seeds-<seeds>/ (notebook 06: <out>/<...>/); a run that finished with the
same parameters is not run again, so an interrupted acceptance run resumes where it stopped.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

if "--quick" in sys.argv:  # the test's smoke run: proves the script, measures nothing
    os.environ["GAN_HELPERS_QUICK"] = "1"
else:
    os.environ.pop("GAN_HELPERS_QUICK", None)  # acceptance numbers are full-mode numbers

import torch  # noqa: E402

import gan_helpers as gh  # noqa: E402
from gan_helpers.compare import SEED_METRICS, format_seed_table  # noqa: E402
from gan_helpers.experiments import STACKED_METRICS, stacked_summary  # noqa: E402
from gan_helpers.compare import AA_SEED_OFFSET  # noqa: E402
from gan_helpers.lessons import CLAIMS, check_claims, claims_table, discovery_seeds, seed_values  # noqa: E402
from gan_helpers.params import find_notebook, notebook_parameters  # noqa: E402

METRICS = (*SEED_METRICS, "class_kl", "class_kl_late", "g_loss_jitter")
STACKED = "06_stacked_mnist_1000_modes"


def run_lesson(notebook, seeds, out, jobs, name=None):
    """The lesson's default grid under `seeds`: (its rows, the table by variant)."""
    form = notebook_parameters(notebook)
    if "seeds" not in form:
        raise SystemExit(f"{notebook.name} has no `seeds` in its form: lessons with claims run a grid "
                         f"over seeds (notebooks 02, 03 and 06).")
    name = name or f"{form['experiment']}-seeds-{'-'.join(map(str, seeds))}"
    if notebook.stem == STACKED:
        runs = gh.stacked_mnist_runs(seeds, form["steps"], form["d_widths"], form["fix_width"],
                                     form["r1_gamma"], form["batch_size"])
        rows = gh.train_stacked_mnist(runs, form["samples"], name, out, jobs=jobs)
        return rows, format_seed_table(stacked_summary(rows), STACKED_METRICS)
    result = gh.run_sweep("01_mnist_dcgan_baseline.ipynb", grid=form.get("grid"), variants=form.get("variants"),
                          sets=form.get("sets"), seeds=seeds, jobs=jobs, out=f"{out}/sweeps", name=name,
                          progress=False)
    return result.rows, result.seed_table(METRICS)


def confirmation_seeds(lesson, seeds):
    """The seeds, refused when a claim was chosen on one of them, repeated, or negative."""
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise SystemExit(f"--seeds {' '.join(map(str, seeds))}: give each seed once, as whole numbers >= 0.")
    picked = sorted(set(seeds) & set(discovery_seeds(lesson)))
    if picked:
        raise SystemExit(f"--seeds {' '.join(map(str, seeds))}: the claims of {lesson} were chosen on seed(s) "
                         f"{picked}; a claim is confirmed only on seeds it was not chosen on. Drop them, "
                         f"e.g. --seeds {' '.join(str(s) for s in range(21, 26))}.")
    clash = sorted(s for s in seeds if s + AA_SEED_OFFSET in seeds)
    if clash:
        raise SystemExit(f"--seeds: {clash} + {AA_SEED_OFFSET} is also given; the A/A control runs under "
                         f"seed + {AA_SEED_OFFSET}, so its stream would not be independent. Pick other seeds.")
    return seeds


def lesson_notebook(name):
    """The lesson's notebook, or a clear error listing the lessons that have claims."""
    stem = name.removesuffix(".ipynb").rsplit("/", 1)[-1]
    if stem not in CLAIMS:
        raise SystemExit(f"{name!r} is not a lesson with claims: use one of {', '.join(CLAIMS)}.")
    return find_notebook(stem + ".ipynb")


def settings(notebook, args, seconds, rows):
    form = notebook_parameters(notebook)
    grid = {k: form.get(k) for k in ("steps", "batch_size", "d_widths", "fix_width", "r1_gamma", "samples")} \
        if notebook.stem == STACKED else {k: form.get(k) for k in ("grid", "variants", "sets")}
    return {**grid, "quick": args.quick, "jobs": args.jobs, "device": str(gh.env.pick_device()), "cpu": gh.env.cpu_name(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
            "wall_seconds": round(seconds, 1),  # runs that had finished before are not run again
            "runs_seconds": round(sum(r.get("run_seconds") or 0 for r in rows), 1),
            "command": "python data_scripts/lesson_acceptance.py " + " ".join(sys.argv[1:])}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("notebook", help="02_architecture_variations, 03_hyperparameter_tuning or " + STACKED)
    p.add_argument("--seeds", type=int, nargs="+", required=True)
    p.add_argument("--json", required=True, help="where to write the results")
    p.add_argument("--jobs", type=int, default=2, help="runs at once (default 2: one per core here)")
    p.add_argument("--out", default="outputs/acceptance", help="the sweep folder's parent")
    p.add_argument("--quick", action="store_true", help="quick mode: the first seed, a few steps")
    p.add_argument("--name", help="the sweep folder's name (default: <experiment>-seeds-<seeds>)")
    args = p.parse_args(argv)
    notebook = lesson_notebook(args.notebook)
    confirmation_seeds(notebook.stem, args.seeds)
    started = time.perf_counter()
    rows, table = run_lesson(notebook, args.seeds, args.out, args.jobs, args.name)
    checked = check_claims(notebook.stem, rows)
    failed = [{"run": r["run"], "error": r["error"]} for r in rows if r["status"] != "finished"]
    metrics = STACKED_METRICS if notebook.stem == STACKED else METRICS
    out = {"notebook": notebook.name, "settings": settings(notebook, args, time.perf_counter() - started, rows),
           "seeds": args.seeds, "variants": seed_values(rows, metrics), "claims": checked, "failed": failed}
    Path(args.json).write_text(json.dumps(out, indent=1, default=str) + "\n")
    print(table, "\n\nClaims:\n" + claims_table(checked), sep="")
    verdicts = [c["verdict"] for c in checked if c["a"] != "aa_control"]
    counts = ", ".join(f"{verdicts.count(v)} {v}" for v in ("confirmed", "refuted", "inconclusive"))
    print(f"\n{len(verdicts)} claims on seeds {args.seeds}: {counts}; wrote {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
