"""Every notebook has the shape the curriculum promises; notebook 05 on a messy folder."""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_helpers import RunConfig


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


def _rgb(w, h, colour):
    return Image.new("RGB", (w, h), colour)


def _scene(w, h):
    """A structured image (gradient, a disc, a bar): its resized JPEG copy is a near duplicate."""
    from PIL import ImageDraw
    ramp = np.linspace(0, 255, w)[None, :, None] * np.array([1.0, 0.5, 0.2])
    img = Image.fromarray(np.broadcast_to(ramp, (h, w, 3)).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    draw.ellipse((10, 10, 60, 60), fill=(250, 250, 40))
    draw.rectangle((70, 20, 90, 80), fill=(20, 40, 200))
    return img


@pytest.fixture
def messy_folder(tmp_path):
    """Every mode the issue names, two sizes, nested folders, a duplicate, broken files."""
    src = tmp_path / "src"
    (src / "nested" / "deeper").mkdir(parents=True)
    _rgb(40, 30, (200, 30, 30)).save(src / "red.jpg", quality=95)
    _rgb(100, 80, (30, 200, 30)).save(src / "nested" / "green.png")
    Image.new("L", (50, 50), 128).save(src / "grey_L.png")
    la = Image.new("LA", (50, 50), (0, 0))  # transparent black, grey right half
    la.paste((100, 255), (25, 0, 50, 50))
    la.save(src / "transparent_LA.png")
    rgba = Image.new("RGBA", (64, 64), (255, 0, 0, 255))
    rgba.paste((0, 0, 255, 0), (0, 0, 32, 64))  # left half transparent
    rgba.save(src / "nested" / "half_transparent.png")
    p = Image.new("P", (48, 48), 1)
    p.putpalette([0, 0, 0, 0, 255, 0, 0, 128, 255] + [0] * 759)
    p.paste(2, (24, 0, 48, 48))
    p.info["transparency"] = 1
    p.save(src / "palette.png", transparency=1)
    Image.new("CMYK", (60, 40), (0, 255, 255, 0)).save(src / "cmyk.jpg")
    ramp = np.tile(np.linspace(0, 40000, 30), (30, 1)).astype(np.uint16)
    Image.fromarray(ramp).save(src / "nested" / "deeper" / "i16.png")
    frames = [_rgb(32, 32, (0, 0, 200)), _rgb(32, 32, (200, 200, 0))]
    frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:])
    _rgb(33, 33, (10, 10, 10)).save(src / "dark.bmp")
    _rgb(70, 70, (120, 60, 200)).save(src / "purple.webp")
    shutil.copy(src / "nested" / "green.png", src / "green_copy.png")  # exact duplicate
    scene = _scene(120, 90)
    scene.save(src / "scene.png")
    scene.resize((100, 75), Image.LANCZOS).save(src / "nested" / "scene_small.jpg", quality=90)  # near
    good = (src / "red.jpg").read_bytes()
    buf = src / "truncated.png"
    _rgb(64, 64, (1, 2, 3)).save(buf)
    buf.write_bytes(buf.read_bytes()[:100])
    (src / "notes.jpg").write_text("not an image at all")
    assert good
    return src


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
