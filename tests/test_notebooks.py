"""Every notebook has the shape the curriculum promises; notebook 05 on a messy folder."""
import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gan_helpers import RunConfig
from image_samples import messy_folder  # noqa: F401 (a fixture)


NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


RUN_EXTRAS = {"experiment", "output_dir", "run_name", "resume", "use_drive"}


def code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def source(cell):
    return "".join(cell["source"])


def test_the_curriculum_is_there():
    names = [p.stem[:2] for p in NOTEBOOKS]
    assert names[:1] == ["01"] and names == sorted(names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_clean_with_one_parameters_cell(path):
    cells = code_cells(path)
    assert all(not c.get("outputs") and not c.get("execution_count") for c in cells)
    params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "papermill needs exactly one cell tagged 'parameters'"
    tree = ast.parse(source(params[0]))
    assert tree.body and all(isinstance(node, ast.Assign) for node in tree.body)
    for line in source(params[0]).splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            assert "#@param" in line, f"not a Colab form field: {line}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_plumbing_inline(path):
    """Cells call gan_helpers; loops, model classes and plotting code live in the package."""
    for cell in code_cells(path):
        text = source(cell)
        assert not re.search(r"^\s*class\s", text, re.M), text
        for plumbing in (".backward(", ".step(", "zero_grad", "plt.", "nn.Module", "torch.optim"):
            assert plumbing not in text, f"{plumbing} written inline:\n{text}"
        assert not re.search(r"^\s*(for .* in range\(|while\s)", text, re.M), text


def test_setup_cell_and_repository_url_identical_everywhere():
    urls = set()
    for path in NOTEBOOKS:
        setup = source(code_cells(path)[0])
        found = re.findall(r'^REPO_URL = "(.+)"$', setup, re.M)
        assert len(found) == 1, path
        assert "google.colab" in setup and '"pip", "install"' in setup
        assert "torch" not in setup.split('"pip", "install"', 1)[1], "never reinstall torch on Colab"
        assert setup == source(code_cells(NOTEBOOKS[0])[0]), f"{path.name}: setup cell differs"
        urls.add(found[0])
    assert len(urls) == 1


def test_baseline_parameters_are_config_fields():
    params = next(c for c in code_cells(NOTEBOOKS[0]) if "parameters" in c["metadata"].get("tags", []))
    names = {t.id for node in ast.parse(source(params)).body for t in node.targets}
    assert names - RUN_EXTRAS <= set(RunConfig.field_names())
    assert {"experiment", "output_dir", "batch_size", "epochs", "lr_g", "lr_d"} <= names


ROOT = Path(__file__).resolve().parents[1]


def test_notebook_05_trains_on_a_messy_folder(messy_folder, tmp_path):
    """Notebook 05 through papermill, quick mode, with only data_path (and a batch that fits
    12 images) set: prepared, previewed, trained, lesson runs, figures."""
    out = tmp_path / "nb05.ipynb"
    env = {**os.environ, "GAN_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "05_your_own_dataset.ipynb"),
                           str(out), "--cwd", str(ROOT / "notebooks"), "--log-level", "WARNING",
                           "-p", "data_path", str(messy_folder), "-p", "batch_size", "8",
                           "-p", "output_dir", str(tmp_path / "outputs"), "-p", "wandb_mode", "offline"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert "14 images, tensor (14, 3, 64, 64) torch.uint8" in text
    runs = [r for r in (tmp_path / "outputs" / "05_your_own_dataset").iterdir() if r.is_dir()]
    assert len(runs) == 1 and (runs[0] / "samples.gif").is_file()
    lesson = tmp_path / "outputs" / "05_your_own_dataset_augmentation"
    assert sorted(r.name for r in lesson.iterdir()) == ["augment-flip", "augment-rotate"]
    assert "| flip |" in text and "| rotate |" in text  # the comparison table
