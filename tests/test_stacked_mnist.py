"""The Stacked-MNIST acceptance script end to end, in quick mode (a few steps, 500 samples)."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_acceptance_script_writes_its_table_and_json(mnist_ready, tmp_path):
    out = tmp_path / "stacked.json"
    proc = subprocess.run([sys.executable, str(ROOT / "data_scripts" / "stacked_mnist_acceptance.py"),
                           "--seeds", "0", "--json", str(out)], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["settings"]["quick"] and result["settings"]["samples"] == 500
    assert set(result["variants"]) == {"DCGAN", "PacDCGAN2", "RpGAN+R1+R2"}
    for runs in result["variants"].values():
        row = runs["0"]
        assert row["role"] in ("baseline", "fix") and 1 <= row["modes"] <= 500
        assert 0 <= row["kl"] <= 6.91 and row["steps"] > 0 and row["seconds"] > 0
    assert "| DCGAN | baseline |" in proc.stdout and "PacGAN, Table 2" in proc.stdout
