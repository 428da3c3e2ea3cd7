"""A notebook's expected results: run it headless at its defaults and keep what it showed.

    python data_scripts/make_gallery.py 01_mnist_dcgan_baseline [-p NAME VALUE ...] [--threads N] [--output-dir DIR]

Runs the notebook through papermill in full mode (GAN_HELPERS_QUICK unset), its run folders in
a scratch folder, then writes docs/results/<notebook>/:
  <run>samples.png   the last fixed-noise grid of each run folder the notebook wrote
  <run>losses.png    its G/D losses per epoch
  <run>samples.gif   its samples epoch by epoch (frames dropped until it is under 1 MB)
  comparison.png     when it wrote several runs: gh.compare_runs' figure (losses and last grids)
  results.json       device, CPU, torch version and threads, date, the command, the parameters
                     set, wall seconds, the load average, and per run its epochs, seconds per
                     epoch, final losses and the last value of every quality metric.
<run> is empty for a notebook with one run and "<label>_" otherwise. A sweep over seeds (notebooks
02, 03 and 06) keeps the pictures of its first seed's runs, one per variant, and adds:
  seeds.png          each variant's mean over the seeds with error bars (gh.compare.plot_seed_summary)
  results.json       "by_variant" (mean, spread, each seed's value, agreement with the baseline) and
                     "claims" (gan_helpers/lessons.py's claims, checked seed by seed).
  capacity.png, stacked_samples.png   notebook 06: modes against D's weights, and each variant's samples
--output-dir keeps the run folders there instead of a scratch folder; run folders that finished
with the same parameters (data_scripts/lesson_acceptance.py's, with --out and --name set to the
notebook's output_dir/sweeps and experiment) are then reused, not trained again, and results.json
gives the runs' own seconds. `-p` values are read as
Python literals where they parse (`-p epochs 5`, `-p d_channels "[4, 8]"`), else as text.
--quick runs quick mode (the test does, into its own --out). The gallery must stay small (10 MB for all notebooks): the script says when it does not.
"""
import argparse
import ast
import json
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

if "--quick" in sys.argv:  # the test's smoke run; results.json then says "quick": true
    os.environ["GAN_HELPERS_QUICK"] = "1"
else:
    os.environ.pop("GAN_HELPERS_QUICK", None)  # the gallery shows full runs, never quick mode

import papermill as pm  # noqa: E402
import torch  # noqa: E402

import gan_helpers as gh  # noqa: E402
from gan_helpers.runs import epoch_files  # noqa: E402
from gan_helpers.viz import make_gif  # noqa: E402
from gan_helpers.compare import plot_capacity, plot_seed_summary, plot_stacked_samples, seed_summary  # noqa: E402
from gan_helpers.lessons import CLAIMS, check_claims  # noqa: E402
from gan_helpers.params import find_notebook, notebook_parameters  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GIF_LIMIT = 1_000_000  # bytes: a GIF a README can show without a long wait
GALLERY_LIMIT = 10_000_000  # bytes, docs/results/ as a whole


def literal(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # plain text, as papermill's -p would take it


def run_folders(root):
    """Every run folder under root (hyperparameters.json + training_metrics.json), sorted."""
    return sorted(p.parent for p in Path(root).rglob("training_metrics.json")
                  if (p.parent / "hyperparameters.json").is_file())


def label_of(run_dir, root, stem):
    """A file-name-safe label: the run folder's path under output_dir, less the notebook's name."""
    parts = run_dir.relative_to(root).parts[1:] or run_dir.relative_to(root).parts
    label = re.sub(r"[^A-Za-z0-9._-]+", "-", "_".join(parts)).strip("-")
    label = re.sub(r"run-\d{8}-\d{6}", "run", label)  # a run named by its start time: the date is in results.json
    return label[len(stem):].lstrip("_-") if label.startswith(stem) and label != stem else label


def seeded_sweeps(root):
    """The rows (summary.json) of every sweep over seeds under root."""
    sweeps = {}
    for path in Path(root).rglob("summary.json"):
        rows = json.loads(path.read_text())
        if rows and all("seed" in r for r in rows):
            sweeps[path.parent] = rows
    return sweeps


def seed_results(sweeps, out, stem):
    """results.json's by_variant and claims of the sweeps over seeds, seeds.png; and the first
    seed's run folders, whose pictures are kept."""
    results, first_runs = {}, set()
    for sweep_dir, rows in sweeps.items():
        by_variant = seed_summary(rows)
        plot_seed_summary(by_variant, show=False, save_to=out / "seeds.png")
        results["by_variant"] = [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
                                 for r in by_variant]
        if stem in CLAIMS:
            results["claims"] = check_claims(stem, rows)
        if any("stacked_modes" in r for r in rows):  # notebook 06: the capacity curve and the samples
            plot_capacity(rows, show=False, save_to=out / "capacity.png")
            plot_stacked_samples(rows, show=False, save_to=out / "stacked_samples.png")
            results.update(capacity="capacity.png", stacked_samples="stacked_samples.png")
        results["runs_seconds"] = {r["run"]: round(r["run_seconds"], 1) for r in rows if r.get("run_seconds")}
        first = min(r["seed"] for r in rows)
        first_runs |= {Path(r["run_dir"]).resolve() for r in rows if r["seed"] == first and r.get("run_dir")}
    return results, first_runs


def small_gif(frames, path):
    """The frames as a GIF, every k-th frame (the last kept) for the smallest k under GIF_LIMIT."""
    for step in range(1, len(frames) + 1):
        kept = frames[::step]
        if kept[-1] != frames[-1]:
            kept.append(frames[-1])
        make_gif(kept, path)
        if path.stat().st_size <= GIF_LIMIT:
            return
    raise RuntimeError(f"{path}: one frame is over {GIF_LIMIT:,} bytes; nothing to drop")


def keep_run(run_dir, out, prefix):
    """Copy one run's last grid and loss figure, shrink its GIF; return what was kept."""
    frames = epoch_files(run_dir / "images", "png")
    kept = {}
    if frames:
        shutil.copyfile(frames[-1], out / f"{prefix}samples.png")
        small_gif(frames, out / f"{prefix}samples.gif")
        kept.update(samples=f"{prefix}samples.png", gif=f"{prefix}samples.gif")
    if (run_dir / "losses.png").is_file():
        shutil.copyfile(run_dir / "losses.png", out / f"{prefix}losses.png")
        kept["losses"] = f"{prefix}losses.png"
    return kept


def numbers(row):
    """compare_runs' row without the machine's path, floats rounded for reading."""
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items() if k != "run_dir"}


RAW = "https://raw.githubusercontent.com/gan-lab-notebooks/gan-lab-notebooks/main/docs/results"
SHOWN = ("epochs", "s_per_epoch", "class_coverage", "class_kl", "fid", "ms_ssim", "ms_ssim_train",
         "checkerboard", "memorisation", "stacked_modes", "stacked_kl", "stacked_readable")


def short(value):
    return f"{value:.0f}" if isinstance(value, float) and abs(value) >= 100 else \
        f"{value:.3g}" if isinstance(value, float) else str(value)


def snippet(results, stem):
    """Markdown for the notebook: the pictures by their address on GitHub (Colab, GitHub and
    Jupyter all show them) and the numbers, with where they were measured."""
    lines = [f"**What a full run gave** ({results['device']}: {results['cpu']}, {results['cpu_count']} cores, "
             f"torch {results['torch']}, {results['torch_threads']} torch thread(s); {results['date']}; "
             f"`{results['command']}`; {results['wall_seconds'] / 60:.0f} minutes in all):", ""]
    for label, run in results["runs"].items():
        files = run["files"]
        pictures = " ".join(f"![{label or 'run'}: {kind}]({RAW}/{stem}/{files[kind]})"
                            for kind in ("samples", "losses") if kind in files)
        numbers = ", ".join(f"{k} {short(run[k])}" for k in SHOWN if run.get(k) is not None)
        lines += [f"- {label}: {numbers}", "", pictures, ""]
    if "comparison" in results:
        lines.append(f"![comparison]({RAW}/{stem}/comparison.png)")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("notebook", help="a curriculum notebook's name, e.g. 01_mnist_dcgan_baseline")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    p.add_argument("--threads", type=int, default=0, help="torch threads in the kernel (0: torch's default)")
    p.add_argument("--out", default=str(ROOT / "docs" / "results"))
    p.add_argument("--quick", action="store_true", help="quick mode: proves the script, shows no lesson")
    p.add_argument("--output-dir", help="keep the run folders here (and reuse those that finished) "
                                        "instead of a scratch folder")
    args = p.parse_args(argv)
    notebook = find_notebook(args.notebook if args.notebook.endswith(".ipynb") else args.notebook + ".ipynb")
    params = {name: literal(value) for name, value in args.parameter}
    out = Path(args.out) / notebook.stem
    if args.threads:  # the kernel is a child process: it reads these when torch starts
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        outputs = Path(args.output_dir).resolve() if args.output_dir else scratch / "outputs"
        load_before, started = os.getloadavg(), time.perf_counter()
        pm.execute_notebook(str(notebook), str(scratch / notebook.name), cwd=str(ROOT),
                            parameters={**params, "output_dir": str(outputs)},
                            progress_bar=False)
        seconds = time.perf_counter() - started
        experiment = str(params.get("experiment") or notebook_parameters(notebook).get("experiment", ""))
        # a shared --output-dir holds other notebooks' runs too: only this notebook's experiment
        runs = [r for r in run_folders(outputs) if experiment in r.relative_to(outputs).parts]
        if not runs:
            raise SystemExit(f"{notebook.name} wrote no run folder under output_dir: nothing to show")
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        sweeps = {d: rows for d, rows in seeded_sweeps(outputs).items() if d.name == experiment}
        seeded, first_runs = seed_results(sweeps, out, notebook.stem)
        if first_runs:  # a sweep over seeds: the pictures of one seed, one run per variant
            runs = [r for r in runs if r.resolve() in first_runs]
        labels = [label_of(r, outputs, notebook.stem) for r in runs]
        prefixes = [""] if len(runs) == 1 else [f"{label}_" for label in labels]
        rows = gh.compare_runs(runs, labels=labels, show=False,
                               save_to=out / "comparison.png" if len(runs) > 1 else None)
        results = {
            "notebook": notebook.name, "quick": args.quick, "date": time.strftime("%Y-%m-%d"),
            "command": "python data_scripts/make_gallery.py " + shlex.join(sys.argv[1:] if argv is None else argv),
            "parameters_set": params, "device": str(gh.env.pick_device()), "cpu": gh.env.cpu_name(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": args.threads or "torch's default",
            "load_average_before_and_after": [round(load_before[0], 1), round(os.getloadavg()[0], 1)],
            "wall_seconds": round(seconds, 1),
            "runs": {label: {**numbers(row), "files": keep_run(r, out, prefix)}
                     for label, r, row, prefix in zip(labels, runs, rows, prefixes)}}
        if len(runs) > 1:
            results["comparison"] = "comparison.png"
        results.update(seeded)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    total = sum(f.stat().st_size for f in Path(args.out).rglob("*") if f.is_file())
    print(snippet(results, notebook.stem))
    print(f"wrote {out} ({len(runs)} run(s), {seconds / 60:.1f} min); the gallery holds {total / 1e6:.1f} MB")
    if total > GALLERY_LIMIT:
        print(f"the gallery is over {GALLERY_LIMIT / 1e6:.0f} MB: shrink a GIF or drop a run", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
