"""gh.report on real quick-mode run folders: one run, an experiment of two, an interrupted run,
and a real sweep of notebook 01 with a failing variant."""
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

import gan_helpers as gh
from gan_helpers.report import NotARunFolder, fmt

ROOT = Path(__file__).resolve().parents[1]
NB01 = ROOT / "notebooks" / "01_mnist_dcgan_baseline.ipynb"
FAKE_KEY = "fake0wandb0key0" + "1234567890abcdef1234567890abcdef"


def _train(tmp, experiment, name, callbacks=(), **changes):
    cfg = gh.RunConfig(max_images=256, batch_size=64, epochs=2, device="cpu",
                       wandb_mode="disabled").replace(**changes).validate()
    run = gh.start_run(cfg, experiment, str(tmp), name)
    gh.train(cfg, gh.load_dataset(cfg), run, callbacks=callbacks, progress=False)
    return run.path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two finished runs of one experiment (the first logged offline to W&B, with quality
    numbers every epoch) and one run stopped by Ctrl-C after its first epoch."""
    tmp = tmp_path_factory.mktemp("runs")
    quality = gh.quality_callbacks(gh.RunConfig(), every=1)
    base = _train(tmp, "exp", "base", quality, wandb_mode="offline")
    faster = _train(tmp, "exp", "lr_fast", lr_g=4e-4)

    def stop_at_epoch_2(state):
        if state.epoch == 2:
            raise KeyboardInterrupt

    stopped = _train(tmp, "stopped", "ctrl_c", [stop_at_epoch_2])
    return dict(base=base, faster=faster, stopped=stopped, exp=tmp / "exp")


def md_tables(text):
    """{first header cell: (header, rows)} of every markdown table in the text."""
    tables = {}
    for block in re.findall(r"((?:^\|.*\|\n)+)", text, flags=re.M):
        lines = [[c.strip() for c in line.strip()[1:-1].split(" | ")] for line in block.splitlines()]
        tables.setdefault(lines[0][0], (lines[0], lines[2:]))
    return tables


def check_outputs(out):
    """Every image report.md links exists; report.html references nothing outside itself;
    the fake key is nowhere."""
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    links = [unquote(l) for l in re.findall(r"\]\(([^)\s]+)\)", md)]
    assert links and all((out / l).is_file() for l in links), links
    refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]*)""", page, flags=re.I)
    assert refs and all(r.startswith("data:") or r.startswith("#") for r in refs)
    assert not re.search(r"@import|url\(|<link|<script", page, flags=re.I)
    for path in out.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path
    return md, page


def test_one_run(runs, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)  # in the environment, never in a report
    md_path = gh.report(runs["base"], out=tmp_path / "r", notes="I changed nothing.\nD won.")
    md, page = check_outputs(tmp_path / "r")
    history = json.loads((runs["base"] / "training_metrics.json").read_text())
    tables = md_tables(md)
    last = tables["last epoch"][1][0]
    assert last == [fmt(history[k][-1]) for k in ("epoch", "d_loss", "g_loss", "d_real", "d_fake")]
    assert len(history["epoch"]) == 2 and "complete: 2 epochs" in md
    quality = tables["epoch"]
    assert quality[0][:3] == ["epoch", "class_coverage", "class_kl"]
    assert [r[1] for r in quality[1]] == [fmt(v) for v in history["class_coverage"]]
    assert [r[quality[0].index("fid")] for r in quality[1]] == [fmt(v) for v in history["fid"]]
    changed = dict((r[0], r[1]) for r in tables["parameter"][1])
    assert changed["max_images"] == "256" and changed["device"] == "cpu"
    assert "RunConfig()` defaults" in md  # experiment "exp" names no notebook
    generator = tables["layer"][1]
    info = json.loads((runs["base"] / "hyperparameters.json").read_text())
    assert generator[-1][2] == f"{info['parameters'][0]:,}"  # the layer table's total
    assert "wandb sync " in md and "/wandb/offline-run-" in md
    assert "I changed nothing." in md and "I changed nothing." in page
    assert "samples.gif" in md and "data:image/gif;base64," in page
    assert md_path == tmp_path / "r" / "report.md"


def test_experiment_of_two_runs(runs, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    gh.report(runs["exp"])  # next to the runs, by default
    md, _ = check_outputs(runs["exp"])
    header, rows = md_tables(md)["run"]
    assert header[:3] == ["run", "lr_g", "wandb_mode"] and [r[0] for r in rows] == ["base", "lr_fast"]
    for row, name in zip(rows, ("base", "lr_fast")):
        history = json.loads((runs[name if name == "base" else "faster"] / "training_metrics.json").read_text())
        assert row[header.index("D loss")] == fmt(history["d_loss"][-1])
        assert row[header.index("G loss")] == fmt(history["g_loss"][-1])
    assert (runs["exp"] / "comparison.png").is_file() and "](comparison.png)" in md
    assert "What would you try next?" in md  # no notes: the questions as prompts
    assert md.count("## Run `") == 2


def test_interrupted_run_reports_what_it_has(runs, tmp_path):
    gh.report(runs["stopped"], out=tmp_path)
    md, _ = check_outputs(tmp_path)
    assert "**incomplete**: 1 of 2 epochs" in md
    history = json.loads((runs["stopped"] / "training_metrics.json").read_text())
    assert md_tables(md)["last epoch"][1][0][:2] == ["1", fmt(history["d_loss"][-1])]


def test_recorded_wandb_address_is_text_not_a_link(runs, tmp_path):
    """What runs.Run.open records for an online run (wandb_url) is shown, never fetched."""
    run = tmp_path / "online"
    subprocess.run(["cp", "-r", str(runs["faster"]), str(run)], check=True)
    info = json.loads((run / "hyperparameters.json").read_text())
    url = "https://wandb.ai/someone/gan-lab-notebooks/runs/abc123"
    (run / "hyperparameters.json").write_text(json.dumps({**info, "wandb_url": url}))
    gh.report(run)
    md, page = check_outputs(run)
    assert f"Dashboard: {url}" in md and url in page


def test_not_a_run_folder(tmp_path):
    (tmp_path / "stuff").mkdir()
    with pytest.raises(NotARunFolder, match="hyperparameters.json.*training_metrics.json"):
        gh.report(tmp_path / "stuff")
    proc = subprocess.run([sys.executable, "-m", "gan_helpers.report", str(tmp_path / "nope")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "run folder holds" in proc.stderr


def test_sweep_with_a_failed_variant(tmp_path):
    """The real sweep CLI on notebook 01 (quick mode), then the report CLI with --notes."""
    env = {**__import__("os").environ, "WANDB_API_KEY": FAKE_KEY}
    subprocess.run([sys.executable, "-m", "gan_helpers.sweep", str(NB01), "--grid", "lr_g=2e-4,-1",
                    "--set", "max_images=128", "--set", "wandb_mode='disabled'", "--quick",
                    "--name", "two", "--out", str(tmp_path)], env=env, capture_output=True,
                   timeout=600)
    (tmp_path / "notes.md").write_text("lr_g=-1 was a test.")
    proc = subprocess.run([sys.executable, "-m", "gan_helpers.report", str(tmp_path / "two"),
                           "--notes", str(tmp_path / "notes.md"), "--out", str(tmp_path / "hand-in")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    md, _ = check_outputs(tmp_path / "hand-in")
    header, rows = md_tables(md)["run"]
    by_run = {r[0]: dict(zip(header, r)) for r in rows}
    assert by_run["lr_g--1"]["status"] == "failed" and by_run["lr_g--1"]["lr_g"] == "-1"
    assert by_run["lr_g-0.0002"]["status"] == "complete"
    history = json.loads((tmp_path / "two" / "lr_g-0.0002" / "training_metrics.json").read_text())
    assert by_run["lr_g-0.0002"]["D loss"] == fmt(history["d_loss"][-1])
    assert "**failed**: ValueError: lr_g" in md and "lr_g=-1 was a test." in md
    assert "parameters cell of `executed.ipynb`" in md  # notebook 01's defaults, from the run
    assert "# Experiment report: two\n" in md and "](report_files/comparison.png)" in md
