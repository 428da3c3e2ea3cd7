"""Compare finished runs: one table and one figure from their run folders.

Reads only what every run writes (hyperparameters.json, training_metrics.json, images/),
so it works the same for runs of one notebook, a sweep, or runs from last week.
"""
import json
from pathlib import Path

import matplotlib.pyplot as plt
from PIL import Image

from .metrics import METRIC_NAMES as METRICS
from .runs import epoch_files, load_run
from .viz import epoch_axis, finish, step_curve


def _last(values):
    present = [v for v in values if v is not None]
    return present[-1] if present else None


def seconds_per_epoch(history):
    """Mean seconds per epoch; epoch 1 (warm-up: cuDNN autotuning, compilation) is left out
    when there are more epochs."""
    seconds = history["epoch_seconds"]
    steady = seconds[1:] if len(seconds) > 1 else seconds
    return sum(steady) / len(steady) if steady else None


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
               "s_per_epoch": seconds_per_epoch(history)}
        if info.get("parameters"):
            row["params_G"], row["params_D"] = info["parameters"]
        row.update({m: _last(history[m]) for m in METRICS if m in history})
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
