"""Compare finished runs: one table and one figure from their run folders.

Reads only what every run writes (hyperparameters.json, training_metrics.json, images/),
so it works the same for runs of one notebook, a sweep, or runs from last week.
"""
import json
import math
import statistics
from pathlib import Path

import matplotlib.pyplot as plt
from PIL import Image

from .config import RunConfig
from .data import load_dataset
from .metrics import METRIC_NAMES as METRICS
from .metrics import upsampling_power
from .runs import epoch_files, load_run, samples_of
from .viz import epoch_axis, finish, step_curve, to_grid

# What a sweep with seeds compares by default: quality, coverage, the checkerboard, the price
SEED_METRICS = ("fid", "fid_late", "class_coverage", "checkerboard", "s_per_step")
# Lower is better for these; for the others (class_coverage) higher is
LOWER_IS_BETTER = {"fid", "fid_late", "kid", "class_kl", "class_kl_late", "checkerboard", "s_per_step", "s_per_epoch",
                   "g_loss_jitter", "stacked_kl"}


LATE = 5  # "late" quality: the mean of a run's last 5 readings (one reading swings by 70 FID)


def _last(values):
    present = [v for v in values if v is not None]
    return present[-1] if present else None


def _late(values):
    present = [v for v in values if v is not None][-LATE:]
    return statistics.fmean(present) if present else None


def seconds_per_epoch(history):
    """Mean seconds per epoch; epoch 1 (warm-up: cuDNN autotuning, compilation) is left out
    when there are more epochs."""
    seconds = history["epoch_seconds"]
    steady = seconds[1:] if len(seconds) > 1 else seconds
    return sum(steady) / len(steady) if steady else None


def step_numbers(history):
    """g_steps (G updates in all), s_per_step (training seconds per G step, every epoch counted)
    and g_loss_jitter: how far G's loss moves from one step to the next in the last epoch (the
    spread of its step-to-step changes), the number behind a "jumpy" curve."""
    steps = [values or [] for values in history.get("step_g_loss") or []]
    g_steps = sum(len(values) for values in steps)
    if not g_steps:
        return {}
    last = steps[-1]
    changes = [b - a for a, b in zip(last, last[1:])]
    return {"g_steps": g_steps, "s_per_step": sum(history["epoch_seconds"]) / g_steps,
            "g_loss_jitter": statistics.pstdev(changes) if len(changes) > 1 else None}


def checkerboard_of_runs(run_dirs, n=1000):
    """{run folder: checkerboard score} of image runs: metrics.upsampling_power of n fresh samples
    of the run's generator over that of n of its training images (1 = as clean as the data;
    notebook 02 shows the spectra). 2D runs, and runs without a readable checkpoint, are left out."""
    references, scores = {}, {}
    for run_dir in map(Path, run_dirs):
        cfg = RunConfig.from_json(run_dir / "hyperparameters.json")
        if cfg.is_points:
            continue
        key = (cfg.dataset, cfg.data_path, cfg.image_size, cfg.channels)
        if key not in references:  # the training images' own power, once per data set
            real = load_dataset(cfg.replace(max_images=n, augment="none")).images[:n]
            references[key] = upsampling_power(real)
        try:
            samples = samples_of(run_dir, n=n, seed=0)
        except FileNotFoundError:  # no readable checkpoint (a run that diverged in its first epoch)
            continue
        scores[str(run_dir)] = upsampling_power(samples) / references[key]
    return scores


def compare_runs(run_dirs, labels=None, show=True, save_to=None):
    """One row per run (the config values that differ between the runs, final losses, seconds
    per epoch, the last value of each quality metric) and a figure: overlaid G/D losses and
    each run's last fixed-noise samples. Returns the rows."""
    run_dirs = [Path(getattr(r, "path", r)) for r in run_dirs]
    if not run_dirs:
        raise ValueError("compare_runs needs at least one finished run folder; none were given "
                         "(in a sweep: no variant finished, see the status and error columns).")
    labels = labels or [r.name for r in run_dirs]
    loaded = [load_run(r) for r in run_dirs]
    configs = [info["config"] for info, _ in loaded]
    differ = [k for k in configs[0] if len({json.dumps(c.get(k)) for c in configs}) > 1]
    rows = []
    for label, run_dir, (info, history) in zip(labels, run_dirs, loaded):
        row = {"run": label, **{k: info["config"].get(k) for k in differ},
               "epochs": len(history["epoch"]),
               "d_loss": _last(history["d_loss"]), "g_loss": _last(history["g_loss"]),
               "s_per_epoch": seconds_per_epoch(history), **step_numbers(history)}
        if info.get("parameters"):
            row["params_G"], row["params_D"] = info["parameters"]
        row.update({m: _last(history[m]) for m in METRICS if m in history})
        row.update({f"{m}_late": _late(history[m]) for m in ("fid", "class_kl") if m in history})
        row["run_dir"] = str(run_dir)
        rows.append(row)
    if show or save_to:
        plot_comparison(run_dirs, labels, [h for _, h in loaded], show=show, save_to=save_to)
    return rows


def plot_comparison(run_dirs, labels, histories, show=True, save_to=None):
    n = len(run_dirs)
    fig = plt.figure(figsize=(max(10, 3 * n), 7))
    grid = fig.add_gridspec(2, max(n, 2))
    ax_d, ax_g = fig.add_subplot(grid[0, :max(n, 2) // 2]), fig.add_subplot(grid[0, max(n, 2) // 2:])
    for label, history in zip(labels, histories):
        for ax, key in ((ax_d, "d_loss"), (ax_g, "g_loss")):
            # every step as a thin line (how jumpy a run is shows only there), the epoch means on top
            x, y = step_curve(history, f"step_{key}")
            color = ax.plot(x, y, lw=0.5, alpha=0.35)[0].get_color() if x else None
            ax.plot(history["epoch"], history[key], marker="o" if x else None, color=color, label=label)
    for ax, name in ((ax_d, "D loss: each step (thin), epoch means (markers)"),
                     (ax_g, "G loss: each step (thin), epoch means (markers)")):
        ax.set_title(name)
        epoch_axis(ax)
        ax.legend(fontsize=8)
    for i, (label, run_dir) in enumerate(zip(labels, run_dirs)):
        ax = fig.add_subplot(grid[1, i])
        frames = epoch_files(run_dir / "images", "png")
        if frames:
            ax.imshow(Image.open(frames[-1]), cmap="gray")
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    return finish(fig, save_to, show)


def format_table(rows, columns=None):
    """Rows -> a markdown table (numbers rounded for reading)."""
    if columns is None:
        columns = []
        for row in rows:
            columns += [k for k in row if k not in columns and k != "run_dir"]

    def cell(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        # one line, and a | inside (an error message) must not split the cell when rendered
        return "" if v is None else " ".join(str(v).split()).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


# ---- several seeds per variant -----------------------------------------------------------------

def seed_summary(rows, metrics=None, baseline=None):
    """Runs (rows with 'variant', 'seed', 'status' and numbers) -> one row per variant: its seeds,
    and per metric the mean, the spread (sample standard deviation; 0 for one seed), each seed's
    value, the difference of means from the baseline (the first variant unless named) and the
    paired test of that difference (`paired_test`: seed by seed, the same seed of each variant)."""
    done = [r for r in rows if r.get("status", "finished") == "finished" and r.get("seed") is not None]
    variants = list(dict.fromkeys(r["variant"] for r in done))
    if not variants:
        return []
    metrics = metrics or [m for m in (*SEED_METRICS, *METRICS, "g_loss_jitter")
                          if any(r.get(m) is not None for r in done)]
    per_seed = {v: {m: {r["seed"]: r[m] for r in done if r["variant"] == v and r.get(m) is not None}
                    for m in metrics} for v in variants}
    base = baseline or variants[0]
    out = []
    for v in variants:
        row = {"variant": v, "seeds": sorted({r["seed"] for r in done if r["variant"] == v})}
        for m in metrics:
            values = per_seed[v][m]
            if not values:
                continue
            row[m] = statistics.fmean(values.values())
            row[f"{m}_sd"] = statistics.stdev(values.values()) if len(values) > 1 else 0.0
            row[f"{m}_per_seed"] = values
            if v != base and per_seed[base][m]:
                row[f"{m}_diff"] = row[m] - statistics.fmean(per_seed[base][m].values())
                row[f"{m}_test"] = paired_test(values, per_seed[base][m])
        out.append(row)
    return out


# ---- is a difference more than seed noise? -----------------------------------------------------
# The A/A control: a variant of this name (in a lesson, the baseline's own overrides) runs under
# seed + AA_SEED_OFFSET where the others run under seed, and is reported under seed: its
# differences from the baseline are what seed noise alone gives (lessons.check_claims;
# sweep.run_sweep sets the seeds)
AA, AA_SEED_OFFSET = "aa_control", 1000


MIN_SEEDS = 5      # fewer seeds in common give no verdict
ALPHA = 0.025      # one-sided, in each direction: 5 % in all that noise is called an effect
MIN_EFFECT = 0.5   # and the mean difference must be at least half the seeds' spread


def paired_test(values, base_values, control=None):
    """Is `values` (a variant's {seed: value}) higher or lower than `base_values` beyond seed noise?

    The test: a paired t-test on the per-seed differences d_s = value_s - base_s over the seeds both
    ran (at least MIN_SEEDS = 5), one-sided at ALPHA = 2.5 % in each direction, plus two size rules:
    |mean d| >= MIN_EFFECT (0.5) x the seeds' spread (the root mean square of the two variants'
    standard deviations over those seeds), and |mean d| above |control| (the A/A control's mean
    difference on the same metric, when there is one: two runs of the baseline under independent
    seeds, i.e. what pure noise gives). Pairing by seed matters where the seed fixes most of a run
    (EMA samples the very run it is compared with); where it does not, it costs nothing.

    False-positive rate: with no effect and normal per-seed differences, each direction is called
    with probability at most 2.5 % (exactly 2.5 % without the size rules), so at most 5 % in all.
    Power, with 5 seeds, for a true effect of k spreads of the per-seed difference: 39 % at k = 1,
    71 % at k = 1.5, 80 % at k = 1.7, 91 % at k = 2; with 10 seeds, 80 % at k = 1. Where the seed
    ties a pair together (correlation 0.9, as for EMA against its own run) the size rule costs
    some power: 76 % at k = 1.7 with 5 seeds. (1,000 simulated claims each, tests/test_lessons.py.)
    So a 5-seed "inconclusive" means "not shown", never "no effect".

    Returns {"n", "diff" (mean of d), "t", "p_higher", "p_lower" (one-sided p-values), "effect"
    (|mean d| in spreads), "direction": ">" / "<" when the test calls a direction, else None}.
    """
    from scipy.stats import t as student_t  # imported here: scipy is slow to import, only this needs it
    seeds = sorted(set(values) & set(base_values))
    d = [values[s] - base_values[s] for s in seeds]
    out = {"n": len(d), "diff": statistics.fmean(d) if d else None, "t": None, "p_higher": None,
           "p_lower": None, "effect": None, "direction": None}
    if len(d) < 2:
        return out
    mean, sd = statistics.fmean(d), statistics.stdev(d)
    t = mean / (sd / math.sqrt(len(d))) if sd > 0 else math.copysign(math.inf, mean) if mean else 0.0
    spread = math.sqrt((statistics.variance([values[s] for s in seeds])
                        + statistics.variance([base_values[s] for s in seeds])) / 2)
    effect = abs(mean) / spread if spread > 0 else (math.inf if mean else 0.0)
    out.update(t=t, p_higher=float(student_t.sf(t, len(d) - 1)), p_lower=float(student_t.cdf(t, len(d) - 1)),
               effect=effect)
    big = effect >= MIN_EFFECT and (control is None or abs(mean) > abs(control))
    if len(d) >= MIN_SEEDS and big:
        out["direction"] = ">" if out["p_higher"] <= ALPHA else "<" if out["p_lower"] <= ALPHA else None
    return out


def verdict_words(test):
    """A paired_test's result in words, for a table cell."""
    if test["n"] < 2:
        return "one seed"
    if test["n"] < MIN_SEEDS:
        return f"{test['n']} seeds: too few for a verdict (the test needs {MIN_SEEDS})"
    if test["direction"]:
        return f"{'higher' if test['direction'] == '>' else 'lower'} beyond seed noise (t = {test['t']:.2g})"
    return f"within seed noise (t = {test['t']:.2g})"


def seed_tables(by_variant, metrics=SEED_METRICS):
    """(metrics shown, the rows of mean ± spread, the rows of difference from the baseline with
    its verdict): each row [variant, seeds, a cell per metric], for markdown and the report."""
    metrics = [m for m in metrics if any(m in row for row in by_variant)]

    def mean_sd(row, m):
        return "" if m not in row else f"{row[m]:.3g} ± {row[m + '_sd']:.2g}"

    def diff(row, m):
        return "" if f"{m}_diff" not in row else f"{row[m + '_diff']:+.3g}, {verdict_words(row[m + '_test'])}"

    def rows(of, cell):
        return [[r["variant"], str(len(r["seeds"])), *[cell(r, m) for m in metrics]] for r in of]
    return metrics, rows(by_variant, mean_sd), rows(by_variant[1:], diff)


def format_seed_table(by_variant, metrics=SEED_METRICS):
    """Two markdown tables: each variant's mean ± spread over its seeds, then each variant's
    difference from the baseline (the first row) and the paired test's verdict on it."""
    metrics, means, diffs = seed_tables(by_variant, metrics)
    if not by_variant or not metrics:
        return "(no finished runs with seeds)"
    head = ["| variant | seeds | " + " | ".join(metrics) + " |", "|" + "---|" * (len(metrics) + 2)]
    lines = [["| " + " | ".join(row) + " |" for row in table] for table in (means, diffs)]
    base = by_variant[0]["variant"]
    return "\n".join(["Mean ± spread (standard deviation) over the seeds:", "", *head, *lines[0], "",
                      f"Difference from {base} (mean over seeds), and the paired test (compare.paired_test):", "",
                      *head, *lines[1]])


def plot_seed_summary(by_variant, metrics=SEED_METRICS, show=True, save_to=None):
    """One panel per metric: each variant's mean over its seeds (bar), its spread (error bar,
    one standard deviation) and each seed's own value (dots)."""
    metrics = [m for m in metrics if any(m in row for row in by_variant)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.8), squeeze=False)
    names = [r["variant"] for r in by_variant]
    for ax, m in zip(axes[0], metrics):
        for i, row in enumerate(by_variant):
            if m not in row:
                continue
            ax.bar(i, row[m], yerr=row[m + "_sd"], capsize=4, color="C0", alpha=0.45)
            values = list(row[m + "_per_seed"].values())
            ax.scatter([i] * len(values), values, color="k", s=10, zorder=3)
        ax.set_title(f"{m} ({'lower' if m in LOWER_IS_BETTER else 'higher'} is better)", fontsize=9)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    return finish(fig, save_to, show)


# ---- notebook 06: modes against the discriminator's size -----------------------------------
def plot_capacity(rows, show=True, save_to=None):
    """Stacked-MNIST runs (experiments.stacked_row): modes and KL against D's weights (log
    scale). DCGAN's runs as a line through each width's mean, a dot per seed; each fix as its own
    marker at its D's weights. Returns the figure."""
    done = [r for r in rows if r.get("status") == "finished"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric, label in zip(axes, ("stacked_modes", "stacked_kl"), ("modes of 1,000", "KL against uniform")):
        for i, variant in enumerate(dict.fromkeys(r["variant"] for r in done)):
            runs = [r for r in done if r["variant"] == variant]
            ax.scatter([r["params_D"] for r in runs], [r[metric] for r in runs], s=14,
                       color="C0" if variant.startswith("dcgan") else f"C{i}",
                       marker="o" if variant.startswith("dcgan") else "s",
                       label=None if variant.startswith("dcgan") else variant)
        dcgan = sorted({r["params_D"] for r in done if r["variant"].startswith("dcgan")})
        means = [statistics.fmean(r[metric] for r in done if r["variant"].startswith("dcgan")
                                  and r["params_D"] == w) for w in dcgan]
        ax.plot(dcgan, means, color="C0", label="DCGAN (mean of the seeds)")
        ax.set_xscale("log")
        ax.set(xlabel="D's weights", ylabel=label)
    # one legend, above the panels: inside, it would hide some run's dot
    axes[0].legend(fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.02), ncol=3, frameon=False)
    axes[1].axhline(0, color="k", lw=0.5)
    return finish(fig, save_to, show)


def plot_stacked_samples(rows, seed=None, n=36, show=True, save_to=None):
    """Each variant's n fresh samples (the same noise for all), from the runs of one seed (the
    first unless named), titled with that run's modes and readable share."""
    done = [r for r in rows if r.get("status") == "finished"]
    seed = min(r["seed"] for r in done) if seed is None else seed
    shown = [r for r in done if r["seed"] == seed]
    fig, axes = plt.subplots(1, len(shown), figsize=(2.6 * len(shown), 3.0), squeeze=False)
    for ax, r in zip(axes[0], shown):
        ax.imshow(to_grid(samples_of(r["run_dir"], n=n, seed=1)))
        ax.set_title(f"{r['variant']}\n{r['stacked_modes']} modes, {r['stacked_readable']:.0%} readable", fontsize=9)
        ax.axis("off")
    return finish(fig, save_to, show)
