"""The expected results (docs/results/): made by data_scripts/make_gallery.py, shown in the
notebooks and the README, small enough to clone."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "docs" / "results"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# the markdown links a gallery picture by its address on GitHub, which Colab, GitHub and Jupyter all show
RAW = "https://raw.githubusercontent.com/gan-lab-notebooks/gan-lab-notebooks/main/"


def markdown(path):
    if path.suffix == ".md":
        return path.read_text()
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def gallery_links(text):
    return re.findall(re.escape(RAW) + r"(docs/results/[^)\s\"]+)", text)


def test_the_script_keeps_a_runs_pictures_and_numbers(tmp_path):
    """Quick mode proves the script: notebook 01 headless, its run's files and numbers kept."""
    out = tmp_path / "results"
    done = subprocess.run([sys.executable, "data_scripts/make_gallery.py", "01_mnist_dcgan_baseline",
                           "--quick", "--threads", "1", "--out", str(out), "-p", "seed", "3"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    folder = out / "01_mnist_dcgan_baseline"
    results = json.loads((folder / "results.json").read_text())
    assert results["quick"] is True and results["parameters_set"] == {"seed": 3}
    assert results["device"] and results["torch"] and results["wall_seconds"] > 0
    (run,) = results["runs"].values()
    assert run["epochs"] == 2 and run["class_coverage"] is not None and "run_dir" not in run
    for name in ("samples.png", "losses.png", "samples.gif"):
        assert (folder / name).stat().st_size > 1000, name
    assert (folder / "samples.gif").stat().st_size < 1_000_000


@pytest.mark.skipif(not GALLERY.is_dir(), reason="no gallery committed yet")
def test_each_gallery_is_a_full_run_with_its_command_and_device():
    folders = [p for p in GALLERY.iterdir() if p.is_dir()]
    assert folders
    for folder in folders:
        results = json.loads((folder / "results.json").read_text())
        assert results["quick"] is False, f"{folder.name}: a quick-mode run shows no lesson"
        assert results["command"].startswith("python data_scripts/make_gallery.py ")
        for key in ("device", "cpu", "torch", "date", "wall_seconds", "runs"):
            assert results[key], (folder.name, key)
        for run in results["runs"].values():
            for name in run["files"].values():
                assert (folder / name).is_file(), (folder.name, name)
        for gif in folder.glob("*.gif"):
            assert gif.stat().st_size < 1_000_000, gif.name
    total = sum(f.stat().st_size for f in GALLERY.rglob("*") if f.is_file())
    assert total < 10_000_000, f"docs/results holds {total:,} bytes; keep it under 10 MB"


@pytest.mark.skipif(not GALLERY.is_dir(), reason="no gallery committed yet")
@pytest.mark.parametrize("path", [*NOTEBOOKS, ROOT / "README.md"], ids=lambda p: p.stem)
def test_what_a_full_run_gave_is_shown_where_it_was_made(path):
    """Each notebook with a gallery shows its picture (and says so), the README notebook 01's;
    every linked file is committed."""
    text = markdown(path)
    links = gallery_links(text)
    for link in links:
        assert (ROOT / link).is_file(), f"{path.name} links {link}, which is not committed"
    stem = "01_mnist_dcgan_baseline" if path.name == "README.md" else path.stem
    if (GALLERY / stem).is_dir():
        assert any(link.startswith(f"docs/results/{stem}/") for link in links), \
            f"{path.name} does not show docs/results/{stem}/"
        assert "what a full run gave" in text.lower()
