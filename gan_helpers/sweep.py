"""Run a notebook once per variant, headless, and compare the variants in one table.

    python -m gan_helpers.sweep notebooks/01_mnist_dcgan_baseline.ipynb \\
        --grid batch_size=64,256 --grid lr_g=1e-4,2e-4 --set epochs=10 [--seeds 1 2 3] [--quick] [--jobs 2]

Each variant runs through papermill in its own process and kernel (no memory creeping
across variants), into its own run folder <out>/<name>/<variant>/ with the executed notebook
and papermill's log beside the results. Parameter names are checked against the notebook's
`parameters` cell before anything runs (papermill itself only warns). A failed variant is
recorded and the others go on; finished variants are skipped when the same sweep is run
again. At the end: summary.csv, summary.md and comparison.png; with --seeds every variant runs
once per seed, and by_variant.md gives each variant's mean and spread over the seeds, and
whether its difference from the first (baseline) variant holds on every seed.

`--wandb-sweep` writes a W&B sweep file instead, whose command is `gan-lab-sweep agent
NOTEBOOK --name=value ...` (the console script of `python -m gan_helpers.sweep`), for
`wandb agent` on many machines, each run from the environment gan_helpers is installed in.
"""
import argparse
import csv
import hashlib
import itertools
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import yaml
from tqdm.auto import tqdm

from .compare import (AA, AA_SEED_OFFSET, SEED_METRICS, checkerboard_of_runs, compare_runs, format_seed_table,
                      format_table, plot_seed_summary, seed_summary)
from .data import prepare_datasets
from .env import (CACHE_ENV, DATA_ENV, cache_dir, check_folder_name, data_dir, in_notebook, output_root,
                  quick_mode, read_json, write_atomic)
from .params import (check_names, find_notebook, notebook_parameters, parse_assignments,
                     parse_value, split_top_level)
from .wandb_log import child_env


def expand(grid=None, variants=None):
    """{variant name: overrides} from named variants and/or the cartesian product of a grid."""
    bases = dict(variants or {"": {}})
    keys = list(grid or {})
    combos = list(itertools.product(*(grid[k] for k in keys))) if keys else [()]
    out = {}
    for base_name, base in bases.items():
        for combo in combos:
            label = "_".join(f"{k}-{_slug(v)}" for k, v in zip(keys, combo))
            name = "_".join(p for p in (base_name, label) if p) or "default"
            out[name] = {**base, **dict(zip(keys, combo))}
    return out


def _slug(value):
    text = json.dumps(value) if not isinstance(value, str) else value
    return "".join(c if c.isalnum() or c in ".-" else "" for c in text)[:40]


# ---- running ---------------------------------------------------------------------------------

@dataclass
class SweepResult:
    path: Path
    rows: list              # one per run: its variant, its seed (with seeds), status and numbers
    by_variant: list = None  # with seeds: one per variant, mean and spread over its seeds

    @property
    def failed(self):
        return [r for r in self.rows if r["status"] != "finished"]

    def runs(self, seed=None):
        """{variant: run folder} of the finished runs of one seed (the first unless given): one
        run per variant, as the comparison figure shows them."""
        done = [r for r in self.rows if r["status"] == "finished"]
        seeds = sorted({r["seed"] for r in done if r.get("seed") is not None})
        seed = seed if seed is not None else (seeds[0] if seeds else None)
        return {r["variant"]: r["run_dir"] for r in done if r.get("seed") == seed}

    def table(self, columns=None):
        return format_table(self.rows, columns)

    def seed_table(self, metrics=SEED_METRICS):
        """With seeds: each variant's mean ± spread, and its difference from the baseline
        (the first variant) with whether every seed agrees on its direction."""
        return format_seed_table(self.by_variant, metrics)

    def show(self, metrics=SEED_METRICS):
        """The comparison figure of the finished runs (curves + last samples); with seeds, the
        first seed's runs and a second figure: each metric's mean per variant with error bars."""
        if self.by_variant:
            plot_seed_summary(self.by_variant, metrics)
        runs = self.runs()
        return compare_runs(list(runs.values()), labels=list(runs))


def run_sweep(notebook, grid=None, variants=None, sets=None, seeds=None, quick=None, jobs=1,
              out="outputs/sweeps", name=None, progress=True, timeout=None, use_drive=False,
              quick_seeds=1):
    """Run every variant of `notebook`; returns a SweepResult (rows + the sweep folder).

    grid: {name: [values]} (cartesian product); variants: {variant: {name: value}};
    sets: {name: value} for every variant; seeds: run every variant once per seed (runs named
    <variant>_seed-<seed>), and compare variants by their mean and spread over the seeds;
    quick: True/False sets GAN_HELPERS_QUICK for the kernels, None inherits it; quick mode keeps
    the first `quick_seeds` seeds; jobs: runs at once (one GPU each when there are several; on a
    CPU each kernel gets its share of the cores); timeout: seconds one cell of a run may take
    before that run is recorded as failed (None: no limit); use_drive: on Colab, the sweep folder
    on Google Drive (as a notebook's runs).
    """
    notebook = find_notebook(notebook)
    variants = expand(grid, variants)
    sets = dict(sets or {})
    seeds = seeds_to_run(seeds, quick, quick_seeds)
    check_names(notebook, set(sets) | {k for v in variants.values() for k in v} | ({"seed"} if seeds else set()))
    name = name or f"{notebook.stem[:2]}-{_digest(variants, sets)}"
    groups, variants = runs_of(variants, seeds)
    # resolved here: a variant's kernel is a fresh process that cannot see Colab or Drive itself
    root = output_root(out, use_drive).resolve()
    sweep_dir = root / name
    (sweep_dir / "status").mkdir(parents=True, exist_ok=True)
    with sweep_lock(sweep_dir):  # one sweep at a time per folder
        result = _run_locked(notebook, variants, sets, quick, jobs, root, name, sweep_dir, progress,
                             timeout, groups)
    if seeds:
        result.by_variant = seed_summary(result.rows)
        (sweep_dir / "by_variant.md").write_text(result.seed_table() + "\n")
    return result


def runs_of(variants, seeds=None):
    """({run name: (variant, seed)}, {run name: overrides}): with seeds, every variant once per
    seed, named as a grid over `seed` names them; the A/A control (compare.AA) is trained under
    seed + AA_SEED_OFFSET, an independent stream, and reported under seed, its pair's."""
    if not seeds:
        return {v: (v, None) for v in variants}, variants
    # seed by seed: a sweep stopped halfway has whole seeds, every variant of each, to compare
    groups = {f"{v}_seed-{_slug(s)}": (v, s) for s in seeds for v in variants}
    runs = expand({"seed": seeds}, variants)
    runs = {run: runs[run] for run in groups}
    for run, (variant, seed) in groups.items():
        if variant == AA:
            runs[run]["seed"] = seed + AA_SEED_OFFSET
    return groups, runs


def seeds_to_run(seeds, quick=None, quick_seeds=1):
    """The seeds as a list (None: no seeds of the sweep's own); quick mode keeps the first
    `quick_seeds`, saying so: quick mode proves the code, it measures nothing."""
    if seeds is None:
        return None
    if isinstance(seeds, int) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ValueError(f"seeds={seeds!r} must be a list of whole numbers >= 0, e.g. [1, 2, 3].")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={seeds!r} repeats a seed: each seed once.")
    if quick_mode(variant_env(quick)) and len(seeds) > quick_seeds:
        print(f"Quick mode: seed{'s' if quick_seeds > 1 else ''} {seeds[:quick_seeds]} of {seeds} only.")
        return list(seeds[:quick_seeds])
    return list(seeds)


def variant_env(quick=None):
    """The environment of a variant's papermill and kernel: this process's, with the W&B key
    (from Colab Secrets / `wandb login`, in the environment only), quick mode as asked, and
    what a fresh kernel cannot find out for itself: on Colab `google.colab` is not imported
    there, so without GAN_DATA_DIR it would use ./data and download MNIST again per variant."""
    env = child_env()
    env.setdefault(DATA_ENV, str(data_dir().resolve()))
    env.setdefault(CACHE_ENV, str(cache_dir().resolve()))
    if quick is not None:
        env["GAN_HELPERS_QUICK"] = "1" if quick else "0"
    return env


def _run_locked(notebook, variants, sets, quick, jobs, root, name, sweep_dir, progress, timeout,
                groups):
    env = cpu_share(variant_env(quick), jobs)
    mode = "quick" if quick_mode(env) else "full"

    def params_of(variant):
        return {**sets, **variants[variant], "experiment": name, "output_dir": str(root),
                "run_name": variant}

    def done(variant):  # finished with these very parameters, in this mode
        s = _status(sweep_dir, variant)
        return (s.get("status") == "finished" and s.get("mode") == mode
                and json.dumps(s.get("params"), sort_keys=True, default=str)
                == json.dumps(params_of(variant), sort_keys=True, default=str))

    todo = [v for v in variants if not done(v)]
    if len(todo) < len(variants):
        print(f"Skipping {len(variants) - len(todo)} finished variant(s) of {sweep_dir}.")
    started = []  # the variants a worker has taken, for the Ctrl-C summary
    try:
        _run_in_pool(notebook, sweep_dir, todo, params_of, env, mode, jobs, f"sweep {name}",
                     progress, started, timeout,
                     wandb_groups={run: f"{name}/{variant}" for run, (variant, _) in groups.items()})
    except KeyboardInterrupt:  # Ctrl-C: say where things stand, then stop as asked
        print(interrupted_summary(sweep_dir, variants, todo, started, done), file=sys.stderr)
        raise
    return summarise(sweep_dir, variants, groups)


def cpu_share(env, jobs):
    """With several runs at once on a CPU, each kernel gets its share of the cores (torch
    would give each all of them, and they would fight over the cores); on a GPU or when the
    thread count is set already, the environment as it is."""
    if jobs > 1 and not _gpu_ids(env) and "OMP_NUM_THREADS" not in env:
        env = {**env, "OMP_NUM_THREADS": str(max((os.cpu_count() or 1) // jobs, 1))}
    return env


def _run_in_pool(notebook, sweep_dir, todo, params_of, env, mode, jobs, desc, progress, started,
                 timeout=None, wandb_groups=None):
    """The variants in `todo`, `jobs` at once; with several GPUs each running one holds one.
    Each variant is appended to `started` as a worker takes it. wandb_groups: {run: W&B group},
    so W&B shows a variant's seeds as one group."""
    jobs = max(int(jobs), 1)
    if jobs > 1 and todo:  # download once here, not in several kernels at once
        defaults = notebook_parameters(notebook)
        prepare_datasets({params_of(v).get("dataset", defaults.get("dataset")) for v in todo})
    gpus = _gpu_ids(env)
    free_gpus = queue.Queue()  # a running variant holds one GPU; the next one takes a free GPU
    for slot in range(jobs):
        free_gpus.put(gpus[slot % len(gpus)] if len(gpus) > 1 else None)
    bar = tqdm(total=len(todo), desc=desc, unit="variant", disable=not progress)

    def work(i, variant):
        if i < jobs:
            time.sleep(i * 3.0)  # staggered first starts: no kernel-start races
        gpu = free_gpus.get()
        started.append(variant)
        job_env = dict(env)
        if gpu is not None:
            job_env["CUDA_VISIBLE_DEVICES"] = gpu
        if wandb_groups:  # read by wandb_log.start in the variant's kernel
            job_env["WANDB_RUN_GROUP"] = wandb_groups[variant]
        try:
            _run_variant(notebook, sweep_dir, variant, params_of(variant), job_env, mode,
                         timeout=timeout)
        finally:
            free_gpus.put(gpu)
            bar.update(1)

    table = LiveTable(sweep_dir, todo, started) if in_notebook() else None
    try:
        _run_all(work, todo, jobs, table.update if table else None)
    finally:
        bar.close()
        if table:
            table.update()


def _run_all(work, todo, jobs, tick=None):
    """work(i, variant) for every variant, `jobs` at a time, calling tick() every few seconds
    meanwhile (the live table); on Ctrl-C nothing new starts."""
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = [pool.submit(work, i, v) for i, v in enumerate(todo)]
        while not wait(futures, timeout=TICK_SECONDS).done.issuperset(futures):
            if tick:
                tick()
        for future in futures:
            future.result()  # a worker's exception is raised here
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


TICK_SECONDS = 5.0  # the live table's refresh; a variant's metrics file is written every epoch


class LiveTable:
    """The variants of a running sweep as one table in a notebook, redrawn in place: status,
    epoch, the last losses and seconds per epoch, read from each variant's own files (its
    kernel is another process, so the files are what this one can see)."""

    def __init__(self, sweep_dir, todo, started):
        from IPython.display import Markdown, display
        self.sweep_dir, self.todo, self.started = sweep_dir, todo, started
        self.handle = display(Markdown(self.text()), display_id=True)
        self._markdown = Markdown

    def update(self):
        self.handle.update(self._markdown(self.text()))

    def text(self):
        return format_table([self.row(v) for v in self.todo],
                            ["variant", "status", "epoch", "d_loss", "g_loss", "s_per_epoch"])

    def row(self, variant):
        status = _status(self.sweep_dir, variant).get("status")
        row = {"variant": variant, "status": status or ("running" if variant in self.started else "waiting")}
        try:
            history = json.loads((self.sweep_dir / variant / "training_metrics.json").read_text())
        except (OSError, ValueError):  # not started, or mid-write (the writer is atomic)
            return row
        if history.get("epoch"):
            seconds = history["epoch_seconds"]
            row.update(epoch=history["epoch"][-1], d_loss=history["d_loss"][-1],
                       g_loss=history["g_loss"][-1], s_per_epoch=sum(seconds) / len(seconds))
        return row


def interrupted_summary(sweep_dir, variants, todo, started, done):
    """What finished (kept), what was cut off, what never started, and how to go on."""
    finished = [v for v in variants if done(v)]
    cut = [v for v in started if v not in finished]
    waiting = [v for v in todo if v not in started]
    return (f"\nSweep {sweep_dir} interrupted.\n"
            f"  finished ({len(finished)}, kept): {', '.join(finished) or '-'}\n"
            f"  interrupted ({len(cut)}): {', '.join(cut) or '-'}\n"
            f"  not started ({len(waiting)}): {', '.join(waiting) or '-'}\n"
            f"Re-run the same command to resume: finished variants are skipped, the interrupted "
            f"ones start again (their partial folders are kept aside as <variant>.failed-<time>).")


@contextmanager
def sweep_lock(sweep_dir):
    """Hold <sweep>/sweep.lock while the sweep runs. Two sweeps on one folder would run every
    variant twice and rename each other's live run folders; the second is refused instead.
    flock is released by the kernel when the process ends, so a killed sweep leaves no
    stale lock behind (Linux and macOS, as on Colab)."""
    import fcntl
    f = open(sweep_dir / "sweep.lock", "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = ""
        for _ in range(40):  # the holder writes its pid just after it locks: wait for it briefly
            f.seek(0)
            holder = f.read().strip()
            if holder:
                break
            time.sleep(0.05)
        f.close()
        holder = holder or "another process"
        raise ValueError(f"the sweep folder {sweep_dir} is in use by another sweep ({holder}). "
                         f"Wait for it to finish (then re-running skips what it finished), or "
                         f"give this sweep another --name or --out.") from None
    f.truncate(0)
    f.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    f.flush()
    try:
        yield
    finally:
        f.close()  # closing releases the lock


def _digest(variants, sets):
    text = json.dumps([variants, sets], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def _gpu_ids(env):
    """The GPUs the variants may use, as CUDA_VISIBLE_DEVICES values (respects one already set)."""
    import torch
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    visible = [g.strip() for g in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip()]
    return (visible or [str(i) for i in range(count)])[:count]


AGAIN = ("Or give the sweep an --out on a disk with room. Then run the same command again: "
         "finished variants are skipped.")


def _status(sweep_dir, variant):
    """The variant's status file; a damaged one counts as not run, so the variant runs again."""
    path = sweep_dir / "status" / f"{variant}.json"
    if not path.exists():
        return {}
    try:
        return read_json(path, f"Variant {variant} counts as not run: a re-run runs it again.")
    except ValueError as e:
        if str(e) not in _SAID:  # once, not at every refresh of the live table
            _SAID.add(str(e))
            print(e, file=sys.stderr)
        return {}


_SAID = set()


def _write_status(sweep_dir, variant, status):
    write_atomic(sweep_dir / "status" / f"{variant}.json", json.dumps(status, indent=2, default=str),
                 then=AGAIN)


def parameters_yaml(params):
    """The variant's parameters as papermill reads them back (YAML 1.1, its safe loader): JSON
    would write 5e-05, which YAML 1.1 reads as the *text* '5e-05'; yaml.safe_dump writes
    5.0e-05 and quotes any text that would read as something else ('1e-5', 'True', 'null').
    YAML has no tuples: a pair arrives as a list, which every pair field of RunConfig accepts."""
    def plain(value):
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value
    return yaml.safe_dump(plain(params), sort_keys=False)


def _run_variant(notebook, sweep_dir, variant, params, env, mode="full", forward_signals=False,
                 timeout=None):
    """papermill in its own process; the executed notebook and log end in the run folder.
    forward_signals (the W&B agent's entry point, main thread only): papermill runs in a
    process group of its own and SIGTERM/SIGINT sent to this process stop it and its kernel.
    timeout: seconds a single cell may run (papermill's --execution-timeout), None for no limit."""
    work = sweep_dir / "notebooks"
    work.mkdir(exist_ok=True)
    run_dir = sweep_dir / variant
    if run_dir.exists():  # a failed earlier try: keep it aside, give the retry the clean name
        run_dir.rename(sweep_dir / f"{variant}.failed-{time.strftime('%H%M%S')}")
    executed, log = work / f"{variant}.ipynb", work / f"{variant}.log"
    params_file = work / f"{variant}.parameters.yaml"
    params_file.write_text(parameters_yaml(params))
    cmd = [sys.executable, "-m", "papermill", str(notebook), str(executed), "--cwd",
           str(notebook.parent), "--log-output", "--no-progress-bar", "-f", str(params_file)]
    if timeout:  # papermill's per-cell limit: a hung cell fails the variant, the rest go on
        cmd += ["--execution-timeout", str(int(timeout))]
    started = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=forward_signals)
        stopped_by = _wait_forwarding_signals(proc) if forward_signals else proc.wait()
    status = {"variant": variant, "params": params, "mode": mode,
              "seconds": time.perf_counter() - started,
              "status": "finished" if proc.returncode == 0 else "failed", "error": None}
    if forward_signals and stopped_by:
        status["error"] = f"stopped by {signal.Signals(stopped_by).name} (papermill and its kernel ended)"
    elif proc.returncode:
        status["error"] = _error_line(executed, log)
        if timeout and log.exists() and "CellTimeoutError" in log.read_text():
            # papermill interrupts the kernel, so the notebook shows a KeyboardInterrupt
            status["error"] = (f"timed out: a cell ran longer than the sweep's timeout of "
                               f"{int(timeout)} s (papermill stopped it)")
    if run_dir.is_dir():
        for src, dst in ((executed, "executed.ipynb"), (log, "papermill.log"),
                         (params_file, "parameters.yaml")):
            if src.exists():
                shutil.move(str(src), str(run_dir / dst))
        status["run_dir"] = str(run_dir)
    _write_status(sweep_dir, variant, status)
    return status


def _wait_forwarding_signals(proc):
    """Wait for papermill; a SIGTERM (how `wandb agent` stops a run) or SIGINT meanwhile stops
    papermill and its kernel. Returns the signal that stopped the run, or None."""
    received, groups = [], set()

    def stop(signum, frame):
        received.append(signum)
        groups.update(_process_groups(proc.pid))
        _signal_groups(groups, signal.SIGTERM)

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while proc.poll() is None:  # short naps rather than one wait(): the handler runs promptly
            time.sleep(0.2)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if received:  # whatever has not ended 10 s after SIGTERM is killed
        deadline = time.monotonic() + 10
        while any(_signal_groups([g], 0) for g in groups) and time.monotonic() < deadline:
            time.sleep(0.1)
        _signal_groups(groups, signal.SIGKILL)
    return received[0] if received else None


def _process_groups(pid):
    """The process groups of `pid` and of every process below it. The kernel has its own:
    jupyter_client starts it in a new session, so a signal to papermill's group misses it."""
    groups = {pid}
    for child in _descendants(pid):
        try:
            groups.add(os.getpgid(child))
        except ProcessLookupError:
            pass
    groups.discard(os.getpgrp())  # never this process's own group
    return groups


def _signal_groups(groups, sig):
    """Send sig to each process group; True if any of them still exists."""
    alive = False
    for group in groups:
        try:
            os.killpg(group, sig)
            alive = True
        except (ProcessLookupError, PermissionError):
            pass
    return alive


def _descendants(pid):
    """The ids of every process below `pid`, children of children included (psutil)."""
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _error_line(executed, log):
    """'ValueError: lr_g=-1 is out of range ...' from the executed notebook, else the log."""
    try:
        for cell in json.loads(executed.read_text())["cells"]:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    return f"{output['ename']}: {output['evalue']}"
    except (OSError, ValueError):
        pass
    lines = [l for l in log.read_text().splitlines() if l.strip()] if log.exists() else []
    return lines[-1] if lines else "papermill failed before running the notebook"


def summarise(sweep_dir, variants, groups=None):
    """summary.csv, summary.md and comparison.png for the sweep; returns the result. groups:
    {run: (variant, seed)} when every variant ran once per seed (rows then name both, and the
    figure shows the first seed's runs, one per variant)."""
    groups = groups or {v: (v, None) for v in variants}
    statuses = {v: _status(sweep_dir, v) for v in variants}
    finished = [v for v, s in statuses.items() if s.get("status") == "finished"
                and (sweep_dir / v / "training_metrics.json").is_file()]
    compared, first_seed = {}, min((groups[v][1] for v in finished if groups[v][1] is not None), default=None)
    if finished:
        rows = compare_runs([sweep_dir / v for v in finished], labels=finished, show=False)
        compared = {r["run"]: r for r in rows}
        checkerboard = checkerboard_of_runs([sweep_dir / v for v in finished])
        for v in finished:
            compared[v]["checkerboard"] = checkerboard.get(str(sweep_dir / v))
        shown = [v for v in finished if groups[v][1] == first_seed]
        compare_runs([sweep_dir / v for v in shown], labels=[groups[v][0] for v in shown], show=False,
                     save_to=sweep_dir / "comparison.png")
    rows = []
    for v, s in statuses.items():
        variant, seed = groups[v]
        row = {"run": v, "variant": variant, **variants[v], **({"seed": seed} if seed is not None else {}),
               "status": s.get("status", "not run")}
        if seed is not None and variants[v].get("seed") != seed:  # the A/A control: paired by seed,
            row["trained_seed"] = variants[v]["seed"]              # trained under another
        row.update({k: x for k, x in compared.get(v, {}).items() if k not in ("run", "run_dir")
                    and k not in variants[v]})
        row["error"] = s.get("error")
        row["run_seconds"] = s.get("seconds")  # the whole notebook run: start-up, training, evaluation
        row["run_dir"] = s.get("run_dir")
        rows.append(row)
    write_summary(sweep_dir, rows)
    return SweepResult(sweep_dir, rows)


def write_summary(sweep_dir, rows):
    """summary.csv (every column), summary.json (the same, numbers as numbers) and summary.md
    (the table) of the sweep's runs."""
    (sweep_dir / "summary.json").write_text(json.dumps(rows, indent=1, default=str) + "\n")
    columns = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with open(sweep_dir / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    (sweep_dir / "summary.md").write_text(
        format_table(rows) + "\n\ns_per_epoch: mean seconds per epoch, epoch 1 (warm-up) left out "
        "when a run has more than one epoch. s_per_step: training seconds per G step, every epoch "
        "counted. checkerboard: the samples' spectral power where a stride-2 upsampling leaves its "
        "grid, over the training images' own (1 = as clean as the data).\n")


# ---- W&B Sweeps --------------------------------------------------------------------------------

# The agent's ${interpreter} is the bare word `python`: another Python than the one that has
# gan_helpers (or none: Debian and Ubuntu ship only python3). The console script that
# `pip install` puts beside the package's own Python is found on the PATH instead, and its
# first line names that Python.
AGENT_COMMAND = "gan-lab-sweep"


def wandb_sweep_config(notebook, grid, sets=None, method="grid", metric="fid", goal="minimize",
                       project="gan-lab-notebooks"):
    """A W&B sweep configuration whose runs execute `notebook` through the agent entry point."""
    if method not in ("grid", "random", "bayes"):
        raise ValueError(f"method={method!r}: use 'grid', 'random' or 'bayes'.")
    if goal not in ("minimize", "maximize"):
        raise ValueError(f"goal={goal!r}: use 'minimize' or 'maximize'.")
    check_names(notebook, set(grid) | set(sets or {}))
    parameters = {k: {"values": list(v)} for k, v in grid.items()}
    parameters.update({k: {"value": v} for k, v in (sets or {}).items()})
    return {"program": str(notebook), "method": method, "project": project,
            "metric": {"name": metric, "goal": goal}, "parameters": parameters,
            "command": ["${env}", AGENT_COMMAND, "agent", str(notebook), "${args}"]}


def parse_agent_args(notebook, argv):
    """The agent's ['--lr_g=0.0002', '--batch_size=64'] -> {'lr_g': 0.0002, 'batch_size': 64}."""
    params = {}
    for arg in argv:
        if not arg.startswith("--") or "=" not in arg:
            raise ValueError(f"agent argument {arg!r} must look like --name=value")
        name, text = arg[2:].split("=", 1)
        params[name] = parse_value(text)
    check_names(notebook, params)
    return params


def agent(notebook, argv, out="outputs/sweeps"):
    """What `wandb agent` runs: one variant of the notebook with the sweep's parameters."""
    notebook = Path(notebook).resolve()
    params = parse_agent_args(notebook, argv)
    sweep = os.environ.get("WANDB_SWEEP_ID", "wandb-sweep")
    variant = os.environ.get("WANDB_RUN_ID") or _digest(params, {})
    sweep_dir = Path(out).resolve() / sweep
    (sweep_dir / "status").mkdir(parents=True, exist_ok=True)
    params = {**params, "experiment": sweep, "output_dir": str(sweep_dir.parent), "run_name": variant}
    offline = os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun")
    if "wandb_mode" in notebook_parameters(notebook) and not offline:
        params["wandb_mode"] = "online"  # the agent is logged in; the run joins the sweep
    return _run_variant(notebook, sweep_dir, variant, params, agent_env(), forward_signals=True)


# What wandb's agent hands a run as paths; relative ones are relative to the agent's folder.
AGENT_PATH_VARIABLES = ("WANDB_SWEEP_PARAM_PATH", "WANDB_DIR")


def agent_env():
    """A variant's environment under `wandb agent`. The agent writes the run's parameters to
    WANDB_SWEEP_PARAM_PATH, a path relative to the agent's folder unless WANDB_DIR is set,
    and wandb.init insists on reading it; papermill's --cwd starts the kernel in the notebooks
    folder, where that relative path leads nowhere. So every path the agent set is made
    absolute here, while this process still stands where the agent started it."""
    env = variant_env()
    for name in AGENT_PATH_VARIABLES:
        if env.get(name):
            env[name] = os.path.abspath(env[name])
    return env


# ---- command line ---------------------------------------------------------------------------------

def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["agent"]:
        return agent_main(argv[1:])
    args = argument_parser().parse_args(argv)
    try:
        if args.name is not None:  # the sweep folder, and the experiment of every variant
            check_folder_name("--name", args.name, where="--out")
        check_assignments(args.grid, args.sets, args.seeds)
        grid = parse_assignments(args.grid, split_values=True)
        sets = parse_assignments(args.sets, split_values=False)
        if args.wandb_sweep:
            config = wandb_sweep_config(args.notebook, grid, sets, args.method, args.metric, args.goal)
            Path(args.wandb_sweep).write_text(yaml.safe_dump(config, sort_keys=False))
            print(f"Wrote {args.wandb_sweep}. Next:\n  wandb sweep {args.wandb_sweep}\n"
                  f"  wandb agent ENTITY/PROJECT/SWEEP_ID   # on every GPU machine, in the environment\n"
                  f"  # that has gan_helpers installed (its {AGENT_COMMAND} command on the PATH)")
            return 0
        if args.quick:
            os.environ["GAN_HELPERS_QUICK"] = "1"
        result = run_sweep(args.notebook, grid=grid, sets=sets, seeds=args.seeds, jobs=args.jobs,
                           out=args.out, name=args.name, quick=True if args.quick else None,
                           timeout=args.timeout, quick_seeds=len(args.seeds or []) if args.all_seeds else 1)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(result.table(["run", *grid, *(["seed"] if args.seeds else []), "status", "d_loss", "g_loss",
                        "s_per_epoch", "error"]))
    if result.by_variant:
        print("\nBy variant, over the seeds:\n" + result.seed_table())
    print(f"\nSummary: {result.path / 'summary.md'}")
    if result.failed:
        print(f"{len(result.failed)} of {len(result.rows)} variants failed.", file=sys.stderr)
        return 1
    return 0


def check_assignments(grid_items, set_items, seeds=None):
    """Refuse what the sweep would otherwise drop without a word: a name with no value, a name
    given twice (the second would replace the first), and the names the runner sets itself."""
    owned = {"experiment": "--name", "output_dir": "--out", "run_name": "the variant's name"}
    if seeds:
        owned["seed"] = "--seeds"
    seen = {}
    for flag, item in [("--grid", i) for i in grid_items or []] + [("--set", i) for i in set_items or []]:
        name, _, text = item.partition("=")
        name = name.strip()
        if name in owned:
            raise ValueError(f"{flag} {item!r}: the sweep sets {name} itself (from {owned[name]}), "
                             f"so this value would be replaced. Leave it out"
                             f"{'' if name == 'run_name' else f' and use {owned[name]} instead'}.")
        if name in seen:
            raise ValueError(f"{flag} {item!r}: {name} is given twice (first as {seen[name]}); the "
                             f"second would replace the first. Give it once (several values: one "
                             f"--grid {name}=a,b,c).")
        values = split_top_level(text)
        if "=" in item and not values:
            raise ValueError(f"{flag} {item!r} gives {name} no value: write {flag} {name}="
                             f"{'a,b' if flag == '--grid' else 'value'} (text in quotes, e.g. "
                             f"{name}=\"''\", for an empty text).")
        if flag == "--grid" and len(set(values)) < len(values):
            raise ValueError(f"--grid {item!r} lists a value twice: its variants would have one "
                             f"name and one would replace the other. Give each value once.")
        seen[name] = f"{flag} {item!r}"


def agent_main(argv):
    """`... agent NOTEBOOK --name=value ...`: exit 0 finished, 1 failed, 2 refused."""
    if not argv:
        print(f"usage: {AGENT_COMMAND} agent NOTEBOOK --name=value ...", file=sys.stderr)
        return 2
    try:
        status = agent(argv[0], argv[1:])
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if status["status"] != "finished":
        print(f"error: {status['error']}", file=sys.stderr)
    return 0 if status["status"] == "finished" else 1


def argument_parser():
    p = argparse.ArgumentParser(prog="python -m gan_helpers.sweep", description=__doc__.split("\n\n")[0])
    p.add_argument("notebook")
    p.add_argument("--grid", action="append", help="name=v1,v2,... (repeat for a product)")
    p.add_argument("--set", action="append", dest="sets", help="name=value for every variant")
    p.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                   help="run every variant once per seed and compare by mean and spread")
    p.add_argument("--quick", action="store_true", help="quick mode in every kernel (first seed only)")
    p.add_argument("--all-seeds", action="store_true", help="in quick mode too, every seed")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", default="outputs/sweeps")
    p.add_argument("--name")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="a variant whose cell runs longer fails (recorded with the reason); default: no limit")
    p.add_argument("--wandb-sweep", metavar="YAML", help="write a W&B sweep file instead of running")
    p.add_argument("--method", default="grid")
    p.add_argument("--metric", default="fid")
    p.add_argument("--goal", default="minimize")
    return p


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # run_sweep has said what finished and how to resume
        sys.exit(130)
