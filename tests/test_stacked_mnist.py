"""Notebook 06's acceptance run end to end, in quick mode (the first seed, a few steps, 500 samples):
`python -m gan_helpers.course lesson_acceptance` runs the notebook's own form through gh.stacked_mnist_runs and
gh.train_stacked_mnist, checks gan_helpers/lessons.py's claims and writes the JSON."""
import json
import subprocess
import sys


def test_acceptance_script_runs_notebook_06s_form_and_checks_its_claims(mnist_ready, tmp_path):
    out = tmp_path / "06.json"
    # as the notebook gives it, from another folder (Colab's terminal starts in /content)
    proc = subprocess.run([sys.executable, "-m", "gan_helpers.course", "lesson_acceptance",
                           "06_stacked_mnist_1000_modes", "--seeds", "5", "6", "--quick", "--out", "runs",
                           "--json", str(out)], capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["settings"]["quick"] and result["failed"] == []
    variants = result["variants"]
    assert set(variants) == {"dcgan_d2", "dcgan_d4", "dcgan_d8", "dcgan_d16", "pacgan2_d2", "rpgan_r1r2_d2"}
    for runs in variants.values():
        assert list(runs) == ["5"]  # quick mode: the first seed only
        row = runs["5"]
        assert 1 <= row["stacked_modes"] <= 500 and 0 <= row["stacked_kl"] <= 6.91
        assert 0 <= row["stacked_readable"] <= 1 and row["g_steps"] > 0
    assert {c["a"] for c in result["claims"]} <= set(variants) and all(c["seeds"] == 1 for c in result["claims"])
    # the run folders and the summary the report and the gallery read
    summary = json.loads((tmp_path / "runs" / "06_stacked_mnist_1000_modes-seeds-5-6" / "summary.json").read_text())
    assert [r["status"] for r in summary] == ["finished"] * 6
    assert "Claims:" in proc.stdout and "stacked_modes" in proc.stdout
