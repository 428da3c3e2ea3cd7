"""The variant runner through real papermill on notebook 01, in quick mode."""
import csv
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gan_helpers import sweep
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
    grid = sweep.parse_assignments(["batch_size=64,256", "lr_g=1e-4"], split_values=True)
    assert grid == {"batch_size": [64, 256], "lr_g": [1e-4]}
    variants = sweep.expand(grid, {"a": {"preset": "tf_tutorial"}})
    assert list(variants) == ["a_batch_size-64_lr_g-0.0001", "a_batch_size-256_lr_g-0.0001"]
    assert sweep.parse_assignments(["optimizer=adam"], split_values=False) == {"optimizer": "adam"}
    # text values split too, and commas inside a tuple or list do not split
    assert sweep.parse_assignments(["optimizer=adam,rmsprop,sgd"], split_values=True) == \
        {"optimizer": ["adam", "rmsprop", "sgd"]}
    assert sweep.parse_assignments(["betas_g=(0.5,0.999)"], split_values=True) == {"betas_g": [(0.5, 0.999)]}
    assert sweep.parse_assignments(["betas_g=(0.5, 0.999),(0.9, 0.999)", "g_channels=[64,32],None"],
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
    assert config["command"][2:5] == ["-m", "gan_helpers.sweep", "agent"] and "${args}" in config["command"]
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
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
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
    params = sweep.notebook_parameters(notebook)
    for name in SEED_KNOBS[notebook]:
        assert name in params, name
        assert name in gh.RunConfig.__dataclass_fields__, name  # the same name as the config's
    sweep.check_names(notebook, SEED_KNOBS[notebook])  # accepted by the runner's name check
    grid = {"d_activation": ["relu", "leaky_relu"]} if notebook == NB01 else {"n_critic": [1, 5]}
    assert len(sweep.expand(grid)) == 2
    # the form's defaults build a valid config (None = the preset's value)
    values = {k: v for k, v in params.items() if k in gh.RunConfig.__dataclass_fields__}
    values.pop("data_path", None)
    if notebook == NB05:
        values["dataset"] = "mnist"; values["image_size"] = 28; values["channels"] = 1
        values["preset"] = "tf_tutorial"; values["g_kernel"] = values["d_kernel"] = None
        values["g_strides"] = values["d_strides"] = None
    gh.RunConfig(**values).validate()


def test_seed_001s_relu_dropout_comparison_is_a_variant_of_notebook_02():
    nb02 = ROOT / "notebooks" / "02_architecture_variations.ipynb"
    variants = sweep.notebook_parameters(nb02)["variants"]
    relu = [v for v in variants.values() if v.get("d_activation") == "relu"]
    assert relu and all(v.get("d_dropout", 0) > 0 for v in relu)
    for v in variants.values():
        sweep.check_names(NB01, list(v))
