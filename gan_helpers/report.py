"""The experiment report a student hands in, written from the run folders themselves.

    gh.report(run)                                        # in a notebook, after training
    python -m gan_helpers.report outputs/sweeps/03_hyperparameter_tuning --notes notes.md

PATH is a run folder (hyperparameters.json, training_metrics.json, images/epoch_XXX.png, ...),
an experiment folder (run folders inside) or a sweep folder (variant folders, status/,
summary.csv, comparison.png). Writes report.md (images beside it, relative links: it renders
on GitHub) and report.html (one file to hand in: every image embedded, nothing fetched).

Nothing a run folder holds is recomputed: numbers come from its JSON files, figures are the
PNGs the run wrote. Only the layer table is rebuilt, from the config (built, never trained).
Nothing is read from the environment, so no API key can end up in a report.
"""
import argparse
import base64
import html
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

from .compare import compare_runs, plot_seed_summary, seconds_per_epoch, seed_summary, seed_tables
from .config import RunConfig
from .describe import summary
from .metrics import METRIC_NAMES
from .models import build_models
# read_json: env's reader of damaged JSON, as runs uses it
from .runs import hyperparameters_of, read_history, read_json, readable_frames
from .params import find_notebook, notebook_parameters

RUN_FILES = ("hyperparameters.json (the config), training_metrics.json (per-epoch losses and "
             "metrics), images/epoch_XXX.png, samples.gif, losses.png, d_outputs.png")
QUESTIONS = ("What did you change, compared with the baseline, and why?",
             "What did you expect to happen?",
             "What did you see (samples, curves, numbers, seconds per epoch)?",
             "What would you try next?")


class NotARunFolder(ValueError):
    """A PATH that is neither a run, an experiment nor a sweep folder."""


# ---- what the folders hold ---------------------------------------------------------------------

@dataclass
class RunRecord:
    """One run as its folder (or, for a sweep variant that never started, its status) says."""
    label: str
    path: Path = None      # None: a failed sweep variant that wrote no run folder
    info: dict = field(default_factory=dict)       # hyperparameters.json
    history: dict = field(default_factory=dict)    # training_metrics.json
    sweep_status: dict = field(default_factory=dict)
    damaged: list = field(default_factory=list)    # what could not be read, each said in its section

    @property
    def config(self):
        if "config" in self.info:
            return self.info["config"]
        params = self.sweep_status.get("params", {})  # a variant that failed before its folder
        return {k: v for k, v in params.items() if k in RunConfig.field_names()}

    @property
    def experiment(self):
        return self.info.get("experiment") or self.sweep_status.get("params", {}).get("experiment")

    @property
    def epochs_done(self):
        return len(self.history.get("epoch", []))

    @property
    def status(self):
        """'complete', 'incomplete' (interrupted, stopped, crashed) or 'failed' (a sweep variant)."""
        if self.sweep_status.get("status") == "failed":
            return "failed"
        wanted = self.config.get("epochs")
        last = self.history["epoch"][-1] if self.epochs_done else 0
        return "complete" if wanted and last >= wanted else "incomplete"


def _read_json(path, damaged, read=None):
    """The JSON file's content, {} when it is missing; a damaged one is noted in `damaged`
    (shown in its run's section) and reads as {}: one bad file never stops the whole report."""
    if not path.is_file():
        return {}
    try:
        return read(path) if read else read_json(path, "The report leaves out what it held.")
    except ValueError as e:
        damaged.append(str(e))
        print(f"Note: {e}", file=sys.stderr)
        return {}


def load_run(path, label=None, sweep_status=None):
    path, damaged = Path(path), []
    info = _read_json(path / "hyperparameters.json", damaged, lambda p: hyperparameters_of(p.parent))
    history = _read_json(path / "training_metrics.json", damaged, lambda p: read_history(p.parent))
    if "read_from" in info:  # hyperparameters.json was damaged; its checkpoint gave the config
        damaged.append(info["read_from"])
    return RunRecord(label or path.name, path, info, history, sweep_status or {}, damaged)


def _is_run(path):
    return (path / "hyperparameters.json").is_file()


def _is_sweep(path):
    return (path / "status").is_dir() or (path / "summary.csv").is_file()


def find_runs(path):
    """(runs, the sweep's comparison figure or None) for a run, experiment or sweep folder."""
    path = Path(getattr(path, "path", path))  # a runs.Run works too
    if _is_run(path):
        return [load_run(path)], None
    if _is_sweep(path):
        return _sweep_runs(path), path / "comparison.png"
    children = sorted(p for p in path.iterdir() if p.is_dir() and _is_run(p)) \
        if path.is_dir() else []
    if children:
        return [load_run(p) for p in children], None
    raise NotARunFolder(
        f"{path} is not a run, experiment or sweep folder: "
        f"{'it does not exist' if not path.exists() else 'no hyperparameters.json in it'}, no "
        f"run folders inside it, and no status/ or summary.csv of a sweep. A run folder holds "
        f"{RUN_FILES}; gh.train writes one under outputs/<experiment>/<run_name>/.")


def _sweep_runs(sweep_dir):
    """Every variant the sweep's status/ records (failed ones too), in the sweep's order."""
    damaged = []
    statuses = {p.stem: _read_json(p, damaged) for p in sorted((sweep_dir / "status").glob("*.json"))
                if not p.name.startswith(".")}  # .tmp.*: a write cut off, never a variant
    runs = []
    for variant, status in statuses.items():
        folder = sweep_dir / variant
        if _is_run(folder):
            runs.append(load_run(folder, variant, status))
        else:
            runs.append(RunRecord(variant, None, sweep_status=status))
    if runs and damaged:
        runs[0].damaged += damaged
    return runs


# ---- defaults and architecture -----------------------------------------------------------------

def _plain(value):
    """JSON's view of a value, so (0.5, 0.999) and [0.5, 0.999] compare equal."""
    return json.dumps(value, sort_keys=True, default=str)


def defaults_for(run):
    """({field: default}, where they come from). A notebook's parameters cell is a better
    baseline than RunConfig's own defaults: 'changed' then means changed by the student."""
    base = {f.name: f.default for f in fields(RunConfig)}
    notebook = _source_notebook(run)
    if notebook is None:
        return base, "`RunConfig()` defaults (no notebook found for this run)"
    try:
        params = notebook_parameters(notebook)
    except (OSError, ValueError, SyntaxError):  # an unreadable notebook: fall back, say so
        return base, "`RunConfig()` defaults (its notebook's parameters cell did not parse)"
    base.update({k: v for k, v in params.items() if k in base})
    ran = ", the copy of the notebook this run executed" if notebook.name == "executed.ipynb" else ""
    return base, f"the parameters cell of `{notebook.name}`{ran}"


def _source_notebook(run):
    """The executed notebook a sweep left in the run folder, else the curriculum notebook
    named like the experiment (notebook 01's runs go to outputs/01_mnist_dcgan_baseline/)."""
    if run.path is not None and (run.path / "executed.ipynb").is_file():
        return run.path / "executed.ipynb"
    try:
        return find_notebook(f"{run.experiment}.ipynb") if run.experiment else None
    except FileNotFoundError:
        return None


def layer_rows(config):
    """(title, rows) per network, rows as describe.summary gives them: the one place that
    builds models (from the config, untrained), so it is the one place to re-point."""
    cfg = RunConfig.from_dict(config)
    g, d = build_models(cfg)
    d_in = (2,) if cfg.is_points else (cfg.channels, cfg.image_size, cfg.image_size)
    g_rows, d_rows = summary(g, (cfg.noise_dim,)), summary(d, d_in)
    return [(f"Generator: noise ({cfg.noise_dim},) -> {g_rows[-1]['output']}", g_rows),
            (f"Discriminator: {d_in} -> score", d_rows)]


# ---- a report is a list of blocks, rendered twice (markdown, HTML) -------------------------------
# ("h", level, text) ("p", text) ("table", header, rows) ("img", path, caption)
# ("file", path, caption) ("code", text) ("list", items) ("notes", text) ("details", summary, blocks)

def fmt(value):
    """A number as the tables show it (4 significant digits), None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


def status_text(run):
    if run.status == "failed":
        return f"**failed**: {run.sweep_status.get('error') or 'no error recorded'}"
    if run.status == "incomplete":
        wanted = run.config.get("epochs", "?")
        return (f"**incomplete**: {run.epochs_done} of {wanted} epochs recorded (interrupted, "
                f"stopped or crashed); what it wrote is reported below")
    return f"complete: {run.epochs_done} epochs"


def run_section(run):
    """Everything about one run, in the order the case-study reports told it."""
    blocks = [("h", 2, f"Run `{run.label}`"), ("p", f"Status: {status_text(run)}.")]
    blocks += [("p", f"**Damaged file:** {text}") for text in run.damaged]
    if run.path is None:
        return blocks + [("p", "No run folder was written (it failed before training)."),
                         *hyperparameter_blocks(run)]
    blocks.append(("p", f"Folder: `{run.path}` · experiment `{run.experiment}`"
                        f" · started {run.info.get('created', 'unknown')}"))
    for part in (hyperparameter_blocks, architecture_blocks, figure_blocks, timing_blocks,
                 quality_blocks, wandb_blocks):
        blocks += part(run)
    return blocks


def hyperparameter_blocks(run):
    """Changed values first (against the notebook's defaults), the rest folded away."""
    defaults, source = defaults_for(run)
    config = run.config
    changed = [k for k in config if _plain(config[k]) != _plain(defaults.get(k))]
    same = [k for k in config if k not in changed]
    blocks = [("h", 3, "Hyperparameters"),
              ("p", f"Changed from the defaults ({source}):")]
    if changed:
        blocks.append(("table", ["parameter", "value", "default"],
                       [[k, fmt(config[k]), fmt(defaults.get(k))] for k in changed]))
    else:
        blocks.append(("p", "nothing: this run used the defaults."))
    if same:
        blocks.append(("details", f"The other {len(same)} values (as the defaults)",
                       [("table", ["parameter", "value"], [[k, fmt(config[k])] for k in same])]))
    return blocks


def architecture_blocks(run):
    blocks = [("h", 3, "Architecture")]
    try:
        networks = layer_rows(run.config)
    except Exception as e:  # noqa: BLE001 - an old or odd config: the rest still reports
        return blocks + [("p", f"The layer table could not be built from this config: {e}")]
    for title, rows in networks:
        table = [[f"{r['name']} {r['layer']}", str(tuple(r["output"])), f"{r['params']:,}",
                  f"{r['flops'] / 1e6:.2f}"] for r in rows]
        table.append(["total", "", f"{sum(r['params'] for r in rows):,}",
                      f"{sum(r['flops'] for r in rows) / 1e6:.2f}"])
        blocks += [("p", title),
                   ("table", ["layer", "output shape", "params", "MFLOPs/image"], table)]
    return blocks


def last_frame(run_dir):
    """The newest images/epoch_XXX.png that opens, by its number (epoch_1000 comes after
    epoch_998): a damaged one is named and passed over, never embedded."""
    frames = readable_frames(run_dir / "images")
    return frames[-1] if frames else None


def figure_blocks(run):
    blocks = [("h", 3, "Samples and curves")]
    frame = last_frame(run.path)
    pictures = [(frame, f"fixed-noise samples, {frame.stem.replace('_', ' ')}" if frame else ""),
                (run.path / "losses.png", "D and G losses per epoch"),
                (run.path / "d_outputs.png", "D(x) on real and D(G(z)) on generated images")]
    for path, caption in pictures:
        if path is not None and path.is_file():
            blocks.append(("img", path, caption))
    if (run.path / "samples.gif").is_file():
        blocks.append(("file", run.path / "samples.gif", "samples.gif: the samples, epoch by epoch"))
    if len(blocks) == 1:
        blocks.append(("p", "The run wrote no images yet."))
    return blocks


def timing_blocks(run):
    h = run.history
    if not run.epochs_done:
        return [("h", 3, "Time"), ("p", "No epoch finished, so there are no timings.")]
    rate = h.get("images_per_second")
    rows = [["device", h.get("device") or run.info.get("device", "")],
            ["seconds per epoch (epoch 1, warm-up, left out)", fmt(seconds_per_epoch(h))],
            ["seconds, epoch 1", fmt(h["epoch_seconds"][0])],
            ["seconds in all", fmt(h.get("total_seconds"))],
            ["images per second", fmt(rate)]]
    last = {k: h[k][-1] for k in ("epoch", "d_loss", "g_loss", "d_real", "d_fake") if h.get(k)}
    final = [[fmt(last.get(k)) for k in ("epoch", "d_loss", "g_loss", "d_real", "d_fake")]]
    return [("h", 3, "Time and final losses"), ("table", ["", "value"], rows),
            ("table", ["last epoch", "D loss", "G loss", "D(x)", "D(G(z))"], final)]


def quality_blocks(run):
    """The quality numbers of every epoch that measured any (metrics run every few epochs)."""
    h = run.history
    names = [m for m in METRIC_NAMES if m in h]
    measured = [i for i in range(run.epochs_done) if any(h[m][i] is not None for m in names)]
    if not measured:
        return []
    rows = [[fmt(h["epoch"][i])] + [fmt(h[m][i]) for m in names] for i in measured]
    return [("h", 3, "Quality over epochs"), ("table", ["epoch", *names], rows)]


def wandb_blocks(run):
    """The dashboard's address when the run was online; the upload command when offline."""
    url, mode = run.info.get("wandb_url"), run.info.get("wandb_mode")
    offline = sorted((run.path / "wandb").glob("offline-run-*"))
    if url:
        return [("h", 3, "Weights & Biases"), ("p", f"Dashboard: {url}")]
    if offline:
        commands = "\n".join(f"wandb sync {run.path / 'wandb' / p.name}" for p in offline)
        return [("h", 3, "Weights & Biases"),
                ("p", "This run was logged offline. Upload it, then link the dashboard here:"),
                ("code", commands)]
    if mode == "online":
        return [("h", 3, "Weights & Biases"),
                ("p", f"Logged online as run id `{run.info.get('wandb_run_id')}` in project "
                      f"`{run.config.get('wandb_project')}` (this run recorded no address).")]
    return []


# ---- several runs: one table, one figure ----------------------------------------------------------

def changed_keys(runs):
    """The config fields whose values differ between the runs: the table's columns."""
    keys = []
    for run in runs:
        keys += [k for k in run.config if k not in keys]
    return [k for k in keys if len({_plain(r.config[k]) for r in runs if k in r.config}) > 1]


def quality_columns(runs):
    """{column: history name} of the comparison's quality numbers: class coverage and FID
    where a classifier knows the data (MNIST), the own-image numbers for image folders, the
    modes of 1,000 on Stacked MNIST."""
    if any("stacked_modes" in r.history for r in runs):  # Stacked MNIST: modes of 1,000
        return {"modes": "stacked_modes", "mode KL": "stacked_kl", "readable": "stacked_readable"}
    if any("ms_ssim" in r.history for r in runs) and not any("fid" in r.history for r in runs):
        return {"MS-SSIM": "ms_ssim", "MS-SSIM of training pairs": "ms_ssim_train",
                "checkerboard": "checkerboard", "memorisation": "memorisation"}
    return {"class coverage": "class_coverage", "FID": "fid"}


def comparison_blocks(runs, figures, out):
    """One row a run, then the sweep's comparison figure (or one made for these runs)."""
    keys, quality = changed_keys(runs), quality_columns(runs)
    header = ["run", *keys, "status", "epochs", "D loss", "G loss", "s/epoch", *quality]
    rows = [[run.label, *[fmt(run.config.get(k)) for k in keys], run.status, fmt(run.epochs_done),
             *[fmt(_last(run.history.get(m))) for m in ("d_loss", "g_loss")],
             fmt(seconds_per_epoch(run.history) if run.epochs_done else None),
             *[fmt(_last(run.history.get(m))) for m in quality.values()]]
            for run in runs]
    blocks = [("h", 2, "Comparison"), ("table", header, rows),
              ("p", f"D loss, G loss, {', '.join(quality)}: the last recorded value. s/epoch: "
                    "mean seconds per epoch, epoch 1 (warm-up) left out.")]
    failed = [r for r in runs if r.status == "failed"]
    blocks += [("list", [f"`{r.label}` failed: {r.sweep_status.get('error')}" for r in failed])] \
        if failed else []
    finished = [r for r in runs if r.epochs_done]
    if not figures and len(finished) > 1:  # an experiment folder: draw it as a sweep would
        figures = [out / "comparison.png"]
        compare_runs([r.path for r in finished], labels=[r.label for r in finished],
                     show=False, save_to=figures[0])
    return blocks + [("img", f, "losses of every run overlaid; each run's last samples")
                     for f in figures]


def _last(values):
    present = [v for v in values or [] if v is not None]
    return present[-1] if present else None


def observations_blocks(notes):
    """The student's own words; without them, the questions the case-study reports answered."""
    if notes and notes.strip():
        return [("h", 2, "Observations"), ("notes", notes.strip())]
    return [("h", 2, "Observations"),
            ("p", "*Write yours here (`notes=` in gh.report, or `--notes FILE`), answering:*"),
            ("list", list(QUESTIONS))]


# ---- markdown: images beside report.md, relative links ---------------------------------------------

def asset(path, out, root):
    """A relative link to `path` from report.md; a file outside `out` is first copied into
    out/report_files/ (keeping its folders under `root`), so the report folder travels whole."""
    path, out = Path(path).resolve(), Path(out).resolve()
    if not path.is_relative_to(out):
        copy = out / "report_files" / path.relative_to(root)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
        path = copy
    return Path(os.path.relpath(path, out)).as_posix().replace(" ", "%20")


def _md_cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks, out, root):
    parts = []
    for kind, *a in blocks:
        if kind == "h":
            parts.append(f"{'#' * a[0]} {a[1]}")
        elif kind in ("p", "notes"):
            parts.append(a[0])
        elif kind == "table":
            lines = ["| " + " | ".join(map(_md_cell, a[0])) + " |", "|" + "---|" * len(a[0])]
            parts.append("\n".join(lines + ["| " + " | ".join(map(_md_cell, r)) + " |"
                                            for r in a[1]]))
        elif kind == "img":
            parts.append(f"![{a[1]}]({asset(a[0], out, root)})  \n*{a[1]}*")
        elif kind == "file":
            parts.append(f"[{a[1]}]({asset(a[0], out, root)})")
        elif kind == "code":
            parts.append(f"```\n{a[0]}\n```")
        elif kind == "list":
            parts.append("\n".join(f"- {item}" for item in a[0]))
        elif kind == "details":  # GitHub renders markdown inside <details> after a blank line
            parts.append(f"<details><summary>{a[0]}</summary>\n\n"
                         f"{to_markdown(a[1], out, root)}</details>")
    return "\n\n".join(parts) + "\n"


# ---- HTML: one file, every image inside it ----------------------------------------------------------

STYLE = """body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;
line-height:1.45}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;
padding:.2em .6em;text-align:left}img{max-width:100%}figure{margin:1em 0}
figcaption{color:#555;font-size:.9em}pre,.notes{background:#f6f6f6;padding:.6em;
white-space:pre-wrap}code{background:#f0f0f0}"""
MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def data_uri(path):
    """The file itself inside the page: nothing to fetch, nothing to lose when handed in."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:{MIME.get(Path(path).suffix.lower(), 'application/octet-stream')};base64,{data}"


def inline(text):
    """Escaped text with the two marks the blocks use: `code` and **bold** (and *italic*)."""
    text = html.escape(str(text))
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", text)


def to_html_body(blocks):
    parts = []
    for kind, *a in blocks:
        if kind == "h":
            parts.append(f"<h{a[0]}>{inline(a[1])}</h{a[0]}>")
        elif kind == "p":
            parts.append(f"<p>{inline(a[0])}</p>")
        elif kind == "notes":  # the student's words as written, never interpreted as HTML
            parts.append(f'<div class="notes">{html.escape(a[0])}</div>')
        elif kind == "table":
            head = "".join(f"<th>{inline(c)}</th>" for c in a[0])
            body = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>"
                           for r in a[1])
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
        elif kind in ("img", "file"):  # the GIF too: a link would point outside the file
            parts.append(f'<figure><img src="{data_uri(a[0])}" alt="{html.escape(a[1])}">'
                         f"<figcaption>{inline(a[1])}</figcaption></figure>")
        elif kind == "code":
            parts.append(f"<pre>{html.escape(a[0])}</pre>")
        elif kind == "list":
            parts.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in a[0]) + "</ul>")
        elif kind == "details":
            parts.append(f"<details><summary>{inline(a[0])}</summary>{to_html_body(a[1])}</details>")
    return "\n".join(parts)


def to_html(blocks, title):
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}'
            f"</title><style>{STYLE}</style></head><body>\n{to_html_body(blocks)}\n</body></html>\n")


# ---- the report ---------------------------------------------------------------------------------------

def _as_list(paths):
    if isinstance(paths, (str, os.PathLike)) or hasattr(paths, "path"):
        return [paths]
    return list(paths)


def _unique_labels(runs):
    """Run names as labels; where two share a name (two experiments), the experiment too."""
    names = [r.label for r in runs]
    for run in runs:
        if names.count(run.label) > 1 and run.path is not None:
            run.label = f"{run.path.parent.name}/{run.label}"
    return runs


def _image_root(runs):
    """The folder all run folders sit in: copies of their images keep their paths under it."""
    places = [str(r.path.resolve().parent) for r in runs if r.path is not None]
    return Path(os.path.commonpath(places)) if places else Path.cwd()


def seed_blocks(paths, out):
    """For a sweep over seeds: each variant's mean ± spread over its seeds, its difference from
    the baseline with whether every seed agrees, and the figure with error bars."""
    blocks = []
    for path in paths:
        rows = json.loads((path / "summary.json").read_text()) if (path / "summary.json").is_file() else []
        by_variant = seed_summary(rows) if rows and all("seed" in r for r in rows) else []
        if not by_variant:
            continue
        metrics, means, diffs = seed_tables(by_variant)
        base = by_variant[0]["variant"]
        blocks += [("h", 2, f"By variant, over seeds {', '.join(map(str, by_variant[0]['seeds']))}"),
                   ("table", ["variant", "seeds", *metrics], means),
                   ("table", ["variant", "seeds", *[f"{m} vs {base}" for m in metrics]], diffs)]
        figure = out / f"seeds_{path.name}.png"
        plot_seed_summary(by_variant, metrics, show=False, save_to=figure)
        blocks.append(("img", figure, "each variant's mean over the seeds (bar), one standard deviation "
                                      "(error bar) and each seed (dots)"))
    return blocks


def report(paths, out=None, notes=None):
    """Write report.md and report.html for run, experiment and/or sweep folders (or runs.Run
    objects); returns the path of report.md. out: the folder for both (default: the folder
    given, or the folder that holds all of those given); notes: your observations (markdown)."""
    paths = [Path(getattr(p, "path", p)) for p in _as_list(paths)]
    if not paths:
        raise NotARunFolder(f"gh.report needs at least one folder; a run folder holds {RUN_FILES}.")
    found = [find_runs(p) for p in paths]
    runs = _unique_labels([run for runs, _ in found for run in runs])
    figures = [f for _, f in found if f is not None and f.is_file()]
    out = Path(out) if out else (paths[0] if len(paths) == 1 else
                                 Path(os.path.commonpath([str(p.resolve()) for p in paths])))
    out.mkdir(parents=True, exist_ok=True)
    experiments = sorted({r.experiment or r.label for r in runs})
    title = f"Experiment report: {', '.join(experiments)}"
    blocks = [("h", 1, title),
              ("p", f"{len(runs)} run(s): " + ", ".join(f"`{r.label}` ({r.status})" for r in runs))]
    if len(runs) > 1:
        blocks += comparison_blocks(runs, figures, out)
    blocks += seed_blocks(paths, out)
    blocks += observations_blocks(notes)
    for run in runs:
        blocks += run_section(run)
    md_path, html_path = out / "report.md", out / "report.html"
    md_path.write_text(to_markdown(blocks, out, _image_root(runs)))
    html_path.write_text(to_html(blocks, title))
    print(f"Report: {md_path} (images beside it) and {html_path} (one file to hand in)")
    return md_path


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m gan_helpers.report",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="+", metavar="PATH", help="run, experiment or sweep folder")
    p.add_argument("--out", help="folder for report.md and report.html")
    p.add_argument("--notes", metavar="FILE", help="your observations (a markdown file)")
    args = p.parse_args(argv)
    try:
        notes = Path(args.notes).read_text() if args.notes else None
        report(args.paths, out=args.out, notes=notes)
    except (NotARunFolder, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
