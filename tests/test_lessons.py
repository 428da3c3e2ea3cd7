"""Seeds in every comparison, and claims as data (issue 33): a sweep over seeds aggregated by
variant, claims checked seed by seed, the acceptance script's JSON."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gan_helpers as gh
from gan_helpers import compare as gh_compare
from gan_helpers import experiments, lessons, params, sweep
from gan_helpers.compare import AA, format_seed_table, paired_test, seed_summary, verdict_words
from gan_helpers.lessons import Claim, check_claim, claims_table, seed_values

ROOT = Path(__file__).resolve().parents[1]
NB02 = ROOT / "notebooks" / "02_architecture_variations.ipynb"
NB03 = ROOT / "notebooks" / "03_hyperparameter_tuning.ipynb"
NB06 = ROOT / "notebooks" / "06_stacked_mnist_1000_modes.ipynb"


def row(variant, seed, **numbers):
    return {"run": f"{variant}_seed-{seed}", "variant": variant, "seed": seed, "status": "finished",
            **numbers}


# ---- aggregation, on hand-made rows ---------------------------------------------------------
SEEDS = (21, 22, 23, 24, 25)


def test_seed_summary_gives_mean_spread_and_the_paired_test():
    base = dict(zip(SEEDS, (10.0, 20.0, 30.0, 15.0, 25.0)))
    rows = [row("base", s, fid=v) for s, v in base.items()]
    rows += [row("better", s, fid=v - 5 - 0.1 * i) for i, (s, v) in enumerate(base.items())]
    rows += [row("noisy", s, fid=v + d) for (s, v), d in zip(base.items(), (2, -3, 1, -1, 2))]
    rows += [{**row("broken", 21), "status": "failed"}]
    b, better, noisy = seed_summary(rows, metrics=["fid"])
    assert b["fid"] == 20.0 and b["fid_sd"] == pytest.approx(7.9057, abs=1e-4) and b["seeds"] == list(SEEDS)
    assert better["fid_diff"] == pytest.approx(-5.2) and better["fid_test"]["direction"] == "<"
    assert noisy["fid_test"]["direction"] is None
    table = format_seed_table([b, better, noisy], ["fid"])
    assert "| better | 5 | -5.2, lower beyond seed noise" in table
    assert "| noisy | 5 | +0.2, within seed noise" in table
    assert "| base | 5 | 20 ± 7.9 |" in table


def test_the_test_gives_no_verdict_on_fewer_than_five_seeds():
    few = {s: float(s) for s in SEEDS[:4]}
    test = paired_test({s: v + 100 for s, v in few.items()}, few)
    assert test["direction"] is None and test["n"] == 4 and test["t"] == math.inf
    assert "too few for a verdict" in verdict_words(test) and verdict_words(paired_test({1: 2.0}, {1: 1.0})) == "one seed"


def test_a_consistent_but_tiny_difference_is_not_an_effect():
    """The size rule: 0.1 lower on every seed passes the t-test, but is a 50th of the seeds' spread."""
    base = dict(zip(SEEDS, (10.0, 20.0, 30.0, 15.0, 25.0)))
    test = paired_test({s: v - 0.1 - 0.01 * s for s, v in base.items()}, base)
    assert test["p_lower"] < 1e-6 and test["effect"] < 0.1 and test["direction"] is None


def test_a_difference_no_larger_than_the_aa_controls_is_not_an_effect():
    base = dict(zip(SEEDS, (10.0, 20.0, 30.0, 15.0, 25.0)))
    lower = {s: v - 8 + (s % 2) for s, v in base.items()}
    assert paired_test(lower, base)["direction"] == "<"
    assert paired_test(lower, base, control=-9.0)["direction"] is None  # noise moved it as far


def simulated_verdicts(effect, seeds, claims=1000, rho=0.0, seed=0):
    """How often paired_test calls ">" on `claims` synthetic claims: per seed, b ~ N(0, 1) and
    a = rho b + sqrt(1 - rho^2) e + shift, where shift is `effect` spreads of the per-seed
    difference. Returns the share called ">" and the share called "<"."""
    rng = np.random.default_rng(seed)
    calls = []
    for _ in range(claims):
        b = rng.standard_normal(seeds)
        a = rho * b + math.sqrt(1 - rho ** 2) * rng.standard_normal(seeds)
        a = a + effect * math.sqrt(2 * (1 - rho))  # the sd of a - b is sqrt(2 (1 - rho))
        calls.append(paired_test(dict(enumerate(a)), dict(enumerate(b)))["direction"])
    return calls.count(">") / claims, calls.count("<") / claims


@pytest.mark.parametrize("seeds", [5, 8])
@pytest.mark.parametrize("rho", [0.0, 0.9])
def test_under_no_effect_at_most_five_percent_of_claims_pass(seeds, rho):
    higher, lower = simulated_verdicts(0.0, seeds, rho=rho)
    assert higher <= 0.05 and lower <= 0.05 and higher + lower <= 0.075  # 2.5 % a side, by design


@pytest.mark.parametrize("seeds,effect,power", [(5, 1.7, 0.75), (5, 2.0, 0.85), (10, 1.0, 0.75)])
def test_under_a_real_effect_most_claims_pass(seeds, effect, power):
    """The power compare.paired_test's docstring states (80 % at 1.7 spreads with 5 seeds, and at
    1 spread with 10 seeds), within what 1,000 simulated claims can tell (±1.3 % at 80 %)."""
    higher, lower = simulated_verdicts(effect, seeds)
    assert higher >= power and lower == 0.0


def test_agreement_on_one_spread_with_five_seeds_is_what_the_docstring_says():
    higher, _ = simulated_verdicts(1.0, 5)
    assert 0.33 <= higher <= 0.47  # "40 % at k = 1"


def test_the_aa_control_runs_the_baseline_under_an_independent_stream_paired_by_seed():
    groups, runs = sweep.runs_of({"base": {"lr_g": 1e-4}, AA: {"lr_g": 1e-4}, "other": {"ema": 0.9}}, [21, 22])
    assert groups[f"{AA}_seed-21"] == (AA, 21) and runs[f"{AA}_seed-21"] == {"lr_g": 1e-4, "seed": 1021}
    assert runs["base_seed-21"] == {"lr_g": 1e-4, "seed": 21} and runs["other_seed-22"] == {"ema": 0.9, "seed": 22}
    seeds = [r["seed"] for r in runs.values()]
    assert len(set(seeds)) == 4 and set(seeds) == {21, 22, 1021, 1022}


def test_quick_mode_keeps_one_seed_unless_asked(monkeypatch):
    monkeypatch.setenv("GAN_HELPERS_QUICK", "1")
    assert sweep.seeds_to_run([4, 5, 6]) == [4]
    assert sweep.seeds_to_run([4, 5, 6], quick_seeds=2) == [4, 5]
    assert sweep.seeds_to_run([4, 5, 6], quick=False) == [4, 5, 6]
    for bad in (3, [], [1, 1], [1.5], [-1]):
        with pytest.raises(ValueError, match="seeds="):
            sweep.seeds_to_run(bad)


# ---- claims, on a hand-made acceptance JSON ------------------------------------------------
def hand_made():
    """{variant: {seed: {metric: value}}} as the acceptance JSON holds it: b is the baseline, the
    A/A control is b again under other seeds (close to b), a is clearly lower, c is noise."""
    b = dict(zip(SEEDS, (120.0, 100.0, 140.0, 110.0, 130.0)))
    noise = dict(zip(SEEDS, (3.0, -4.0, 2.0, -1.0, 5.0)))
    return {"b": {s: {"fid": v} for s, v in b.items()},
            AA: {s: {"fid": v + noise[s]} for s, v in b.items()},
            "a": {s: {"fid": v - 30 + noise[s]} for s, v in b.items()},
            "c": {s: {"fid": v - noise[s]} for s, v in b.items()}}


def test_claims_are_confirmed_refuted_or_inconclusive():
    values = hand_made()
    confirmed = check_claim(Claim("a beats b", "a", "b", "fid", "<"), values)
    refuted = check_claim(Claim("b beats a", "b", "a", "fid", "<"), values)
    noise = check_claim(Claim("c beats b", "c", "b", "fid", "<"), values)
    assert (confirmed["verdict"], refuted["verdict"], noise["verdict"]) == ("confirmed", "refuted", "inconclusive")
    assert confirmed["per_seed"][21] == [93.0, 120.0] and confirmed["mean"] == [pytest.approx(91.0), 120.0]
    assert confirmed["test"]["t"] < -10 and confirmed["test"]["p_lower"] < 0.001 and confirmed["control"] is None
    table = claims_table([confirmed, refuted, noise])
    assert "| a beats b | fid | 21: 93 vs 120; 22: 66 vs 100;" in table
    assert "confirmed (t = " in table and "refuted (t = " in table and "inconclusive (t = " in table
    missing = check_claim(Claim("d beats b", "d", "b", "fid", "<"), values)
    assert missing["verdict"] == "inconclusive" and claims_table([missing]).count("not run") == 1


def test_with_fewer_seeds_each_seeds_values_are_kept_and_no_verdict_given():
    values = {v: {s: m for s, m in seeds.items() if s in (21, 22)} for v, seeds in hand_made().items()}
    c = check_claim(Claim("a beats b", "a", "b", "fid", "<"), values)
    assert c["verdict"] == "inconclusive" and c["too_few_seeds"] and c["per_seed"] == {21: [93.0, 120.0], 22: [66.0, 100.0]}
    assert "too few seeds for a verdict (2 of the 5 the test needs; the claimed direction on 2 of 2)" in claims_table([c])


def test_the_aa_control_is_checked_like_a_claim_and_must_be_noise(monkeypatch):
    monkeypatch.setitem(lessons.CLAIMS, "lesson", (Claim("a beats b", "a", "b", "fid", "<"),))
    monkeypatch.setitem(lessons.BASELINE, "lesson", "b")
    rows = [row(v, s, **m) for v, seeds in hand_made().items() for s, m in seeds.items()]
    claim, aa = lessons.check_claims("lesson", rows)
    assert claim["verdict"] == "confirmed" and claim["control"] == pytest.approx(1.0)  # the A/A's mean difference
    assert aa["a"] == AA and aa["b"] == "b" and aa["verdict"] == "inconclusive"
    assert "inconclusive, as noise should be" in claims_table([aa])


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
        assert claim.metric in ("fid", "fid_late", "class_coverage", "class_kl", "class_kl_late", "checkerboard", "s_per_step",
                                "g_loss_jitter", "stacked_modes", "stacked_kl", "stacked_readable"), claim
        assert claim.direction in ("<", ">") and claim.text, claim
    assert form["jobs"] >= 1
    if notebook != NB06:  # notebook 06 still runs its discovery seeds 1 and 2: redone under issue 41 item 6
        assert not {s for c in claims for s in c.discovery_seeds} & set(form["seeds"]), "confirmed on fresh seeds"
        assert len(form["seeds"]) >= gh_compare.MIN_SEEDS, "the test needs 5 seeds for a verdict"
        base = lessons.BASELINE[notebook.stem]
        assert form["variants"][AA] == form["variants"][base], "the A/A control is the baseline again"


def test_the_acceptance_script_refuses_discovery_seeds_and_bad_seeds(monkeypatch, capsys):
    sys.path.insert(0, str(ROOT / "data_scripts"))
    import lesson_acceptance
    with pytest.raises(SystemExit, match=r"chosen on seed\(s\) \[2, 3\]"):
        lesson_acceptance.main(["03_hyperparameter_tuning", "--seeds", "2", "3", "21", "--json", "x.json"])
    with pytest.raises(SystemExit, match="give each seed once"):
        lesson_acceptance.main(["03_hyperparameter_tuning", "--seeds", "21", "21", "--json", "x.json"])
    with pytest.raises(SystemExit, match="A/A control runs under seed \\+ 1000"):
        lesson_acceptance.main(["02_architecture_variations", "--seeds", "21", "1021", "--json", "x.json"])
    with pytest.raises(SystemExit, match="use one of 02_architecture_variations, 03_hyperparameter_tuning"):
        lesson_acceptance.main(["02_architecture_variation", "--seeds", "21", "--json", "x.json"])


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
    assert ema["fid_test"]["n"] == 2 and ema["fid_test"]["direction"] is None  # two seeds: no verdict
    assert ema["fid_test"]["diff"] == pytest.approx(ema["fid"] - sum(base.values()) / 2)
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
