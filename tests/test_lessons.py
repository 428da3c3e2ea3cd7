"""Seeds in every comparison, and claims as data (issue 33): a sweep over seeds aggregated by
variant, claims checked seed by seed, the acceptance script's JSON."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gan_helpers as gh
from gan_helpers import experiments, lessons, params, sweep
from gan_helpers.compare import agrees, format_seed_table, seed_summary
from gan_helpers.lessons import Claim, check_claim, claims_table, seed_values

ROOT = Path(__file__).resolve().parents[1]
NB02 = ROOT / "notebooks" / "02_architecture_variations.ipynb"
NB03 = ROOT / "notebooks" / "03_hyperparameter_tuning.ipynb"
NB06 = ROOT / "notebooks" / "06_stacked_mnist_1000_modes.ipynb"


def row(variant, seed, **numbers):
    return {"run": f"{variant}_seed-{seed}", "variant": variant, "seed": seed, "status": "finished",
            **numbers}


# ---- aggregation, on hand-made rows ---------------------------------------------------------
def test_seed_summary_gives_mean_spread_and_whether_every_seed_agrees():
    rows = [row("base", 1, fid=10.0), row("base", 2, fid=20.0), row("base", 3, fid=30.0),
            row("better", 1, fid=8.0), row("better", 2, fid=15.0), row("better", 3, fid=29.0),
            row("noisy", 1, fid=12.0), row("noisy", 2, fid=18.0), row("noisy", 3, fid=31.0),
            {**row("broken", 1), "status": "failed"}]
    base, better, noisy = seed_summary(rows, metrics=["fid"])
    assert base["fid"] == 20.0 and base["fid_sd"] == 10.0 and base["seeds"] == [1, 2, 3]
    assert better["fid_diff"] == pytest.approx(52 / 3 - 20) and better["fid_agree"] is True
    assert noisy["fid_agree"] is False  # above on seeds 1 and 3, below on seed 2
    table = format_seed_table([base, better, noisy], ["fid"])
    assert "| better | 3 | -2.67, holds on every seed |" in table
    assert "| noisy | 3 | +0.333, within seed noise |" in table
    assert "| base | 3 | 20 ± 10 |" in table


def test_agreement_needs_two_seeds_in_common():
    assert agrees({1: 2.0}, {1: 1.0}) is None
    assert agrees({1: 2.0, 2: 3.0}, {1: 1.0, 2: 1.0}) is True
    assert agrees({1: 2.0, 2: 1.0}, {1: 1.0, 2: 1.0}) is False  # a tie is no direction


def test_quick_mode_keeps_one_seed_unless_asked(monkeypatch):
    monkeypatch.setenv("GAN_HELPERS_QUICK", "1")
    assert sweep.seeds_to_run([4, 5, 6]) == [4]
    assert sweep.seeds_to_run([4, 5, 6], quick_seeds=2) == [4, 5]
    assert sweep.seeds_to_run([4, 5, 6], quick=False) == [4, 5, 6]
    for bad in (3, [], [1, 1], [1.5], [-1]):
        with pytest.raises(ValueError, match="seeds="):
            sweep.seeds_to_run(bad)


# ---- claims, on a hand-made acceptance JSON ------------------------------------------------
HAND_MADE = {"a": {1: {"fid": 10.0}, 2: {"fid": 11.0}, 3: {"fid": 9.0}},
             "b": {1: {"fid": 12.0}, 2: {"fid": 13.0}, 3: {"fid": 14.0}},
             "c": {1: {"fid": 11.0}, 2: {"fid": 10.0}, 3: {"fid": 15.0}}}


def test_a_claim_that_holds_and_one_that_is_split():
    holds = check_claim(Claim("a beats b", "a", "b", "fid", "<"), HAND_MADE)
    split = check_claim(Claim("c beats b", "c", "b", "fid", "<"), HAND_MADE)
    assert holds["holds"] is True and holds["per_seed"] == {1: [10.0, 12.0], 2: [11.0, 13.0], 3: [9.0, 14.0]}
    assert holds["mean"] == [10.0, 13.0] and holds["spread"] == [1.0, 1.0]
    assert split["holds"] is False and split["seeds_holding"] == 2 and split["seeds"] == 3
    table = claims_table([holds, split])
    assert "holds on every seed" in table and "split: holds on 2 of 3 seeds" in table
    never = check_claim(Claim("b beats a", "b", "a", "fid", "<"), HAND_MADE)
    assert never["holds"] is False and "does not hold on any seed" in claims_table([never])
    missing = check_claim(Claim("d beats b", "d", "b", "fid", "<"), HAND_MADE)
    assert missing["holds"] is False and claims_table([missing]).count("not run") == 1


def test_seed_values_is_the_acceptance_jsons_variants():
    rows = [row("a", 1, fid=10.0, s_per_step=0.5, g_steps=100),
            {**row("a", 2, fid=11.0), "status": "failed"}]
    assert seed_values(rows, ["fid"]) == {"a": {1: {"fid": 10.0, "seconds": 50.0, "g_steps": 100}}}


def form_variants(notebook, form):
    """The variant names a notebook's form runs: 02/03 list them; 06 builds them from its widths."""
    if notebook.stem.startswith("06"):
        runs = experiments.stacked_mnist_runs(form["seeds"], form["steps"], form["d_widths"], form["fix_width"])
        return {variant for variant, _, _ in runs.values()}
    return set(form["variants"])


@pytest.mark.parametrize("notebook", [NB02, NB03, NB06], ids=lambda p: p.stem)
def test_every_claim_names_variants_of_its_notebooks_grid_and_a_measured_metric(notebook):
    form = params.notebook_parameters(notebook)
    claims = lessons.lesson_claims(notebook.stem)
    assert len(claims) >= 3, "each lesson states at least three claims"
    for claim in claims:
        assert {claim.a, claim.b} <= form_variants(notebook, form), claim
        assert claim.metric in ("fid", "class_coverage", "class_kl", "checkerboard", "s_per_step",
                                "g_loss_jitter", "stacked_modes", "stacked_kl", "stacked_readable"), claim
        assert claim.direction in ("<", ">") and claim.text, claim
    assert len(form["seeds"]) >= 2 and form["jobs"] >= 1  # claims hold on every seed of several


def test_unknown_lesson_says_which_have_claims():
    with pytest.raises(ValueError, match="02_architecture_variations"):
        lessons.lesson_claims("01_mnist_dcgan_baseline")


# ---- a real sweep over seeds, in quick mode -------------------------------------------------
@pytest.fixture(scope="module")
def seeded_sweep(tmp_path_factory):
    """Notebook 01 swept over two variants (EMA off and on) and two seeds, quick mode, through
    the command line: four real run folders."""
    out = tmp_path_factory.mktemp("seeded")
    env = {**os.environ, "GAN_HELPERS_QUICK": "1"}
    proc = subprocess.run([sys.executable, "-m", "gan_helpers.sweep", str(ROOT / "notebooks" / "01_mnist_dcgan_baseline.ipynb"),
                           "--grid", "ema=0.0,0.9", "--seeds", "3", "4", "--all-seeds", "--quick",
                           "--set", "max_images=128", "--set", "wandb_mode='disabled'",
                           "--jobs", "2", "--out", str(out), "--name", "seeded"],
                          capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out / "seeded", proc.stdout


def test_a_sweep_over_seeds_runs_every_variant_under_every_seed(seeded_sweep):
    sweep_dir, stdout = seeded_sweep
    runs = sorted(p.name for p in sweep_dir.iterdir() if (p / "training_metrics.json").is_file())
    assert runs == ["ema-0.0_seed-3", "ema-0.0_seed-4", "ema-0.9_seed-3", "ema-0.9_seed-4"]
    for run in runs:  # the seed reached the run's config
        config = json.loads((sweep_dir / run / "hyperparameters.json").read_text())["config"]
        assert config["seed"] == int(run[-1]) and config["ema"] == float(run[4:7])
    assert "By variant, over the seeds" in stdout and "Difference from ema-0.0" in stdout


def test_the_summary_by_variant_is_the_mean_and_spread_of_its_runs(seeded_sweep):
    sweep_dir, _ = seeded_sweep
    import csv
    rows = [dict(r) for r in csv.DictReader(open(sweep_dir / "summary.csv"))]
    assert {r["variant"] for r in rows} == {"ema-0.0", "ema-0.9"} and {r["seed"] for r in rows} == {"3", "4"}
    for r in rows:
        r["seed"] = int(r["seed"])
        for m in ("fid", "checkerboard", "s_per_step", "class_coverage"):
            r[m] = float(r[m])
    by_variant = seed_summary(rows, metrics=["fid", "checkerboard", "s_per_step", "class_coverage"])
    ema = by_variant[1]
    fids = {r["seed"]: r["fid"] for r in rows if r["variant"] == "ema-0.9"}
    assert ema["fid"] == pytest.approx(sum(fids.values()) / 2)
    assert ema["fid_per_seed"] == fids
    base = {r["seed"]: r["fid"] for r in rows if r["variant"] == "ema-0.0"}
    assert ema["fid_agree"] == ((fids[3] > base[3]) == (fids[4] > base[4]))
    text = (sweep_dir / "by_variant.md").read_text()
    assert "| ema-0.0 | 2 |" in text and "Difference from ema-0.0" in text
    assert all(0 < float(r["checkerboard"]) < 100 for r in rows)


def test_ema_runs_sample_from_the_average(seeded_sweep):
    """The EMA run's last snapshot and load_generator both show the averaged G: its newest
    checkpoint's generator_ema weights."""
    import torch
    sweep_dir, _ = seeded_sweep
    run = sweep_dir / "ema-0.9_seed-3"
    saved = torch.load(sorted((run / "checkpoints").glob("*.pt"))[-1], weights_only=True)
    g = gh.load_generator(run)
    w = next(k for k in saved["generator"] if k.endswith("weight"))
    assert torch.equal(g.state_dict()[w], saved["generator_ema"]["module." + w])
    assert not torch.equal(g.state_dict()[w], saved["generator"][w])


def test_the_report_of_a_sweep_over_seeds_has_the_table_by_variant(seeded_sweep, tmp_path):
    sweep_dir, _ = seeded_sweep
    md = gh.report(sweep_dir, out=tmp_path).read_text()
    assert "## By variant, over seeds 3, 4" in md and "| ema-0.0 | 2 |" in md
    assert "| ema-0.9 | " in md.split("fid vs ema-0.0")[1]  # the difference from the baseline
    assert (tmp_path / "seeds_seeded.png").stat().st_size > 5_000


def test_a_run_without_a_checkpoint_gets_no_checkerboard_and_breaks_no_summary(seeded_sweep, tmp_path):
    """A run that diverged in its first epoch (on_divergence='warn') saves no checkpoint: the
    sweep's summary still comes out, that run without a checkerboard score."""
    import shutil
    from gan_helpers.compare import checkerboard_of_runs
    sweep_dir, _ = seeded_sweep
    run = tmp_path / "no-checkpoint"
    shutil.copytree(sweep_dir / "ema-0.0_seed-3", run)
    shutil.rmtree(run / "checkpoints")
    scores = checkerboard_of_runs([run, sweep_dir / "ema-0.0_seed-4"])
    assert str(run) not in scores and scores[str(sweep_dir / "ema-0.0_seed-4")] > 0
