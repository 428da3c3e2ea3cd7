"""The variant runner through real papermill on notebook 01, in quick mode."""
import csv
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gan_helpers import params, sweep
from gan_helpers.compare import compare_runs, format_table

ROOT = Path(__file__).resolve().parents[1]
NB01 = ROOT / "notebooks" / "01_mnist_dcgan_baseline.ipynb"
CLI = [sys.executable, "-m", "gan_helpers.sweep", str(NB01)]
ARGS = ["--grid", "lr_g=1e-4,2e-4,-1", "--set", "max_images=128", "--set", "wandb_mode='disabled'",
        "--quick", "--name", "three", "--jobs", "2"]  # two at once: the parallel path, staggered


@pytest.fixture(scope="module")
def three_variants(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweeps")
    proc = subprocess.run(CLI + ARGS + ["--out", str(out)], capture_output=True, text=True, timeout=600)
    return out / "three", proc


def test_failed_variant_is_recorded_and_the_others_finish(three_variants):
    sweep_dir, proc = three_variants
    assert proc.returncode == 1, proc.stderr[-2000:]
    rows = list(csv.DictReader(open(sweep_dir / "summary.csv")))
    assert sorted(r["status"] for r in rows) == ["failed", "finished", "finished"]
    failed = next(r for r in rows if r["status"] == "failed")
    assert failed["lr_g"] == "-1" and "lr_g" in failed["error"] and "out of range" in failed["error"]
    for row in rows:
        if row["status"] == "finished":
            run_dir = Path(row["run_dir"])
            assert (run_dir / "executed.ipynb").is_file() and (run_dir / "papermill.log").is_file()
            assert float(row["d_loss"]) > 0 and float(row["s_per_epoch"]) > 0
    summary = (sweep_dir / "summary.md").read_text()
    assert sum(line.startswith("|") for line in summary.splitlines()) == 5  # header, rule, 3 rows
    assert "warm-up" in summary
    assert (sweep_dir / "comparison.png").stat().st_size > 10_000


def test_rerun_skips_finished_variants(three_variants):
    sweep_dir, _ = three_variants
    done = sweep_dir / "lr_g-0.0001" / "training_metrics.json"
    before = done.stat().st_mtime_ns
    proc = subprocess.run(CLI + ARGS + ["--out", str(sweep_dir.parent)], capture_output=True,
                          text=True, timeout=600)
    assert "Skipping 2 finished variant(s)" in proc.stdout + proc.stderr
    assert done.stat().st_mtime_ns == before
    assert proc.returncode == 1  # the invalid variant fails again


def test_compare_runs_makes_its_table(three_variants):
    sweep_dir, _ = three_variants
    rows = compare_runs([sweep_dir / "lr_g-0.0001", sweep_dir / "lr_g-0.0002"], show=False)
    assert [r["lr_g"] for r in rows] == [1e-4, 2e-4]  # the parameter that differs is a column
    assert all(r["params_G"] > 1e6 and r["epochs"] == 2 for r in rows)
    table = format_table(rows)
    assert table.splitlines()[0].startswith("| run | lr_g |") and len(table.splitlines()) == 4


def test_unknown_parameter_is_refused_before_anything_runs(tmp_path):
    proc = subprocess.run(CLI + ["--grid", "learning_rate=1e-4", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "no parameter 'learning_rate'" in proc.stderr
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="did you mean 'lr_g'"):
        sweep.run_sweep(NB01, grid={"lr_gg": [1e-4]}, out=tmp_path)


def test_grid_expansion_and_value_parsing():
    grid = params.parse_assignments(["batch_size=64,256", "lr_g=1e-4"], split_values=True)
    assert grid == {"batch_size": [64, 256], "lr_g": [1e-4]}
    variants = sweep.expand(grid, {"a": {"preset": "tf_tutorial"}})
    assert list(variants) == ["a_batch_size-64_lr_g-0.0001", "a_batch_size-256_lr_g-0.0001"]
    assert params.parse_assignments(["optimizer=adam"], split_values=False) == {"optimizer": "adam"}
    # text values split too, and commas inside a tuple or list do not split
    assert params.parse_assignments(["optimizer=adam,rmsprop,sgd"], split_values=True) == \
        {"optimizer": ["adam", "rmsprop", "sgd"]}
    assert params.parse_assignments(["betas_g=(0.5,0.999)"], split_values=True) == {"betas_g": [(0.5, 0.999)]}
    assert params.parse_assignments(["betas_g=(0.5, 0.999),(0.9, 0.999)", "g_channels=[64,32],None"],
                                   split_values=True) == \
        {"betas_g": [(0.5, 0.999), (0.9, 0.999)], "g_channels": [[64, 32], None]}


def test_notebook_without_run_name_is_refused(tmp_path):
    with pytest.raises(ValueError, match="cannot be swept: its parameters cell lacks run_name"):
        sweep.run_sweep(ROOT / "notebooks" / "03_hyperparameter_tuning.ipynb", grid={"jobs": [1, 2]},
                        out=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_wandb_sweep_file_and_agent_arguments(tmp_path):
    path = tmp_path / "sweep.yaml"
    proc = subprocess.run(CLI + ["--grid", "lr_g=1e-4,2e-4", "--grid", "batch_size=64,256",
                                 "--set", "epochs=10", "--wandb-sweep", str(path), "--method", "random"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(path.read_text())
    assert config["method"] == "random" and config["metric"] == {"name": "fid", "goal": "minimize"}
    assert config["parameters"]["lr_g"] == {"values": [1e-4, 2e-4]}
    assert config["parameters"]["epochs"] == {"value": 10}
    assert config["command"][1:3] == ["gan-lab-sweep", "agent"] and "${args}" in config["command"]
    assert "${interpreter}" not in config["command"]  # the agent makes it a bare `python`
    assert sweep.parse_agent_args(NB01, ["--lr_g=0.0002", "--batch_size=64", "--optimizer=rmsprop"]) == \
        {"lr_g": 2e-4, "batch_size": 64, "optimizer": "rmsprop"}
    with pytest.raises(ValueError, match="no parameter 'lr'"):
        sweep.parse_agent_args(NB01, ["--lr=0.1"])
    # the very arguments wandb's agent builds from one point of this sweep (its own formatter)
    from wandb.sdk.launch.sweeps.utils import create_sweep_command_args
    point = {"lr_g": 2e-4, "batch_size": 256, "epochs": 10, "betas_g": [0.5, 0.999], "optimizer": "sgd"}
    argv = create_sweep_command_args({"args": {k: {"value": v} for k, v in point.items()}})["args"]
    assert sweep.parse_agent_args(NB01, argv) == point
    # an unknown name from the agent fails the run at once, before papermill starts
    proc = subprocess.run([sys.executable, "-m", "gan_helpers.sweep", "agent", str(NB01), "--lr=0.1"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and "did you mean" in proc.stderr and list(tmp_path.iterdir()) == [path]


# ---- issue 14: concurrent sweeps, Ctrl-C -------------------------------------------------
ONE = ["--set", "max_images=128", "--set", "wandb_mode='disabled'", "--quick", "--name", "shared"]


def test_second_sweep_on_one_folder_is_refused(tmp_path):
    """Point 2: two sweeps started together on one --out: one runs, the other is refused at
    once and touches nothing (no variant run twice, no live folder renamed)."""
    cmd = CLI + ["--grid", "lr_g=1e-4"] + ONE + ["--out", str(tmp_path)]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = [p.communicate(timeout=600) + (p.returncode,) for p in (first, second)]
    codes = sorted(r[2] for r in results)
    assert codes == [0, 2], results
    refused = next(r for r in results if r[2] == 2)
    assert "is in use by another sweep" in refused[1] and "pid" in refused[1]
    sweep_dir = tmp_path / "shared"
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["lr_g-0.0001", "notebooks", "status"]
    rows = list(csv.DictReader(open(sweep_dir / "summary.csv")))
    assert [r["status"] for r in rows] == ["finished"]
    assert rows[0]["run_dir"] == str(sweep_dir / "lr_g-0.0001")


def test_ctrl_c_says_what_finished_and_how_to_resume(tmp_path):
    """Point 15: a real SIGINT to the sweep's process group (what Ctrl-C sends) while the
    second of two variants runs: no traceback; finished, interrupted, and re-run resumes."""
    import os
    import signal
    import time
    cmd = CLI + ["--grid", "lr_g=1e-4,2e-4"] + ONE + ["--out", str(tmp_path)]
    # Started as a terminal starts it, with SIGINT at its default: a shell that runs the tests in
    # the background (`pytest &`, a CI script) leaves SIGINT ignored, and children inherit that
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    sweep_dir = tmp_path / "shared"
    deadline = time.time() + 400
    while not (sweep_dir / "notebooks" / "lr_g-0.0002.log").exists():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.2)
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "finished (1, kept): lr_g-0.0001" in err
    assert "interrupted (1): lr_g-0.0002" in err and "Re-run the same command to resume" in err
    assert (sweep_dir / "lr_g-0.0001" / "training_metrics.json").is_file()


NB05 = ROOT / "notebooks" / "05_your_own_dataset.ipynb"
SEED_KNOBS = {  # issue 15: a seed's run is a form edit, and therefore sweepable
    NB01: ("g_activation", "d_activation", "d_dropout", "g_norm"),
    NB05: ("noise_dim", "optimizer", "lr_g", "lr_d", "betas_g", "betas_d", "g_kernel", "d_kernel",
           "g_strides", "d_strides", "loss", "n_critic", "gp_lambda"),
}


@pytest.mark.parametrize("notebook", list(SEED_KNOBS), ids=lambda p: p.stem)
def test_the_seeds_knobs_are_in_the_forms_and_sweepable(notebook):
    import gan_helpers as gh
    form = params.notebook_parameters(notebook)
    for name in SEED_KNOBS[notebook]:
        assert name in form, name
        assert name in gh.RunConfig.__dataclass_fields__, name  # the same name as the config's
    params.check_names(notebook, SEED_KNOBS[notebook])  # accepted by the runner's name check
    grid = {"d_activation": ["relu", "leaky_relu"]} if notebook == NB01 else {"n_critic": [1, 5]}
    assert len(sweep.expand(grid)) == 2
    # the form's defaults build a valid config (None = the preset's value)
    values = {k: v for k, v in form.items() if k in gh.RunConfig.__dataclass_fields__}
    values.pop("data_path", None)
    if notebook == NB05:
        values["dataset"] = "mnist"; values["image_size"] = 28; values["channels"] = 1
        values["preset"] = "tf_tutorial"; values["g_kernel"] = values["d_kernel"] = None
        values["g_strides"] = values["d_strides"] = None
        values["g_channels"] = values["d_channels"] = None  # notebook 05's half widths are 64x64's
    gh.RunConfig(**values).validate()


def test_seed_001s_relu_dropout_comparison_is_a_variant_of_notebook_02():
    nb02 = ROOT / "notebooks" / "02_architecture_variations.ipynb"
    variants = params.notebook_parameters(nb02)["variants"]
    relu = [v for v in variants.values() if v.get("d_activation") == "relu"]
    assert relu and all(v.get("d_dropout", 0) > 0 for v in relu)
    for v in variants.values():
        params.check_names(NB01, list(v))


# ---- issue 27: values that round-trip, a timeout, W&B agents ----------------------------------
def probe(path, parameters, body):
    """A tiny sweepable notebook: `parameters` as its parameters cell, then `body`."""
    import nbformat
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('experiment = "probe"\noutput_dir = "outputs"\nrun_name = ""\n'
                                     + parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


VALUES = {"a": 1e-5, "b": 5e-5, "c": 2.5e-4, "d": 1e3, "e": True, "f": None, "g": "1e-5",
          "h": (0.5, 0.999), "i": [64, 32], "j": "adam", "k": "None"}


def test_every_value_reaches_the_kernel_as_it_was_given(tmp_path):
    """papermill reads parameters as YAML 1.1, where JSON's 5e-05 is the text '5e-05'."""
    notebook = probe(tmp_path / "probe.ipynb", "\n".join(f"{k} = 0" for k in VALUES),
                     "import pathlib\nfolder = pathlib.Path(output_dir) / experiment / run_name\n"
                     "folder.mkdir(parents=True)\n"
                     f"(folder / 'seen.txt').write_text(repr({{k: globals()[k] for k in {list(VALUES)}}}))")
    result = sweep.run_sweep(notebook, variants={"values": VALUES}, out=tmp_path / "sweeps",
                             name="values", progress=False)
    assert [r["status"] for r in result.rows] == ["finished"], result.rows
    seen = __import__("ast").literal_eval((Path(result.rows[0]["run_dir"]) / "seen.txt").read_text())
    assert seen == {**VALUES, "h": [0.5, 0.999]}  # YAML has no tuples: a pair arrives as a list
    assert all(type(seen[k]) is type(v) for k, v in VALUES.items() if k != "h")
    import gan_helpers as gh  # which every pair field of the config accepts
    assert gh.RunConfig(betas_g=seen["h"], lr_g=seen["b"]).validate().lr_g == 5e-5


def test_small_learning_rates_sweep_through_notebook_01(tmp_path):
    """The issue's command: lr_g=5e-5 used to fail with "has the wrong type (str)"."""
    proc = subprocess.run(CLI + ["--grid", "lr_g=5e-5", "--set", "max_images=128", "--set",
                                 "wandb_mode='disabled'", "--quick", "--name", "small",
                                 "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    import json
    saved = json.loads((tmp_path / "small" / "lr_g-5e-05" / "hyperparameters.json").read_text())
    assert saved["config"]["lr_g"] == 5e-5


def test_a_hung_variant_times_out_and_the_others_finish(tmp_path):
    notebook = probe(tmp_path / "probe.ipynb", "nap = 0",
                     "import pathlib, time\n(pathlib.Path(output_dir) / experiment / run_name).mkdir(parents=True)\n"
                     "time.sleep(nap)")
    result = sweep.run_sweep(notebook, grid={"nap": [0, 600]}, out=tmp_path / "sweeps", name="nap",
                             progress=False, timeout=5)
    rows = {r["variant"]: r for r in result.rows}
    assert rows["nap-0"]["status"] == "finished"
    assert rows["nap-600"]["status"] == "failed"
    assert "timed out: a cell ran longer than the sweep's timeout of 5 s" in rows["nap-600"]["error"]
    assert result.rows and max(r.get("seconds", 0) or 0 for r in result.rows) < 300


def test_wandb_agent_contract_runs_a_variant(tmp_path):
    """What wandb 0.31's agent does, reproduced: its environment variables, the run's parameter
    file at a path relative to the agent's folder (written by wandb's own writer), and the
    sweep file's command expanded as the agent expands it. W&B offline, so wandb.init runs."""
    import os
    import shutil
    from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args
    from wandb.sdk.lib import config_util
    args = {"lr_g": {"value": 0.0002}, "batch_size": {"value": 64}, "max_images": {"value": 128}}
    param_path = os.path.join("wandb", "sweep-abc123", "config-run42xyz.yaml")
    config_util.save_config_file_from_dict(str(tmp_path / param_path), args)
    config = sweep.wandb_sweep_config(NB01, {"lr_g": [2e-4]})
    expanded = {"env": ["/usr/bin/env"], **create_sweep_command_args({"args": args})}
    command = []
    for word in create_sweep_command(config["command"]):
        command += expanded[word[2:-1]] if word.startswith("${") else [word]
    assert shutil.which(command[1], path=str(Path(sys.executable).parent)), command
    env = {k: v for k, v in os.environ.items() if k != "WANDB_DIR"}
    env.update(WANDB_SWEEP_ID="abc123", WANDB_RUN_ID="run42xyz", WANDB_SWEEP_PARAM_PATH=param_path,
               WANDB_MODE="offline", GAN_HELPERS_QUICK="1",
               PATH=str(Path(sys.executable).parent) + os.pathsep + env["PATH"])
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    run_dir = tmp_path / "outputs" / "sweeps" / "abc123" / "run42xyz"
    # wandb.init read the agent's parameter file (it must exist), and the run used its values
    log = next(run_dir.glob("wandb/offline-run-*/logs/debug.log")).read_text()
    assert "sweep_config: {'lr_g': 0.0002, 'batch_size': 64, 'max_images': 128}" in log
    import json
    saved = json.loads((run_dir / "hyperparameters.json").read_text())["config"]
    assert (saved["lr_g"], saved["batch_size"], saved["max_images"]) == (0.0002, 64, 128)


def test_a_sweep_in_a_notebook_shows_one_live_table_of_its_variants(tmp_path):
    """run_sweep in a kernel displays the variants' table once and redraws it in place; the
    executed cell keeps its last state: every variant finished."""
    import nbformat
    from nbclient import NotebookClient
    notebook = probe(tmp_path / "probe.ipynb", "nap = 0",
                     "import pathlib, time\n(pathlib.Path(output_dir) / experiment / run_name).mkdir(parents=True)\n"
                     "time.sleep(nap)")
    outer = nbformat.v4.new_notebook()
    outer.cells = [nbformat.v4.new_code_cell(
        "from gan_helpers import sweep\n"
        f"result = sweep.run_sweep({str(notebook)!r}, grid={{'nap': [0, 6]}}, out={str(tmp_path / 'sweeps')!r},"
        " name='live', progress=False)")]
    outer.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(outer, timeout=600, resources={"metadata": {"path": str(tmp_path)}}).execute()
    tables = [o for o in outer.cells[0].outputs if "text/markdown" in o.get("data", {})]
    assert len(tables) == 1, outer.cells[0].outputs
    text = tables[0]["data"]["text/markdown"]
    assert text.startswith("| variant | status | epoch |") and text.count("| finished |") == 2
