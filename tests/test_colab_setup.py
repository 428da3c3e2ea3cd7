"""The setup cell as Colab runs it, and papermill's values and names, in real processes.

Stand-ins: the `google.colab` module (an empty module in sys.modules makes the setup cell
believe it runs on Colab) and, to make the course look not yet installed, `gan_helpers`
blocked from importing in that subprocess. No network: bad URLs are local paths.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gan_helpers.params import notebook_parameters

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NB01 = ROOT / "notebooks" / "01_mnist_dcgan_baseline.ipynb"


def setup_cell():
    cells = json.loads(NB01.read_text())["cells"]
    return "".join(next(c for c in cells if c["cell_type"] == "code")["source"])


def run_setup(tmp_path, repo_url, installed=False, path_prefix=None):
    """The notebook's setup cell in a fresh Python 'on Colab', cloning into tmp_path/course."""
    prelude = "import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n"
    if not installed:
        prelude += "sys.modules['gan_helpers'] = None  # not importable: as on a fresh runtime\n"
    body = setup_cell().replace("\nsetup_course(REPO_URL)", "")
    call = f"\nsetup_course({repo_url!r}, folder={str(tmp_path / 'course')!r})\nprint('SETUP OK')\n"
    env = dict(os.environ)
    if path_prefix:
        env["PATH"] = f"{path_prefix}{os.pathsep}{env['PATH']}"
    return subprocess.run([sys.executable, "-c", prelude + body + call], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_bad_repo_url_fails_fast_in_the_setup_cell(tmp_path):
    out = run_setup(tmp_path, "file:///nonexistent/gan-lab-notebooks")
    assert out.returncode == 1 and "SETUP OK" not in out.stdout
    assert "RuntimeError: Setup failed while cloning file:///nonexistent" in out.stderr
    assert "Check: REPO_URL" in out.stderr


def test_clone_never_waits_at_a_password_prompt(tmp_path):
    """A stand-in git that reports the variable it is given, as a private repository's would prompt."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "git").write_text('#!/bin/sh\necho "GIT_TERMINAL_PROMPT=$GIT_TERMINAL_PROMPT" >&2\nexit 128\n')
    (fake / "git").chmod(0o755)
    out = run_setup(tmp_path, "https://example.invalid/private.git", path_prefix=fake)
    assert "GIT_TERMINAL_PROMPT=0" in out.stderr and "Setup failed while cloning" in out.stderr


def test_failed_pip_install_is_an_error_naming_the_step(tmp_path):
    repo = tmp_path / "not-a-package"
    repo.mkdir()
    (repo / "README.md").write_text("no pyproject here\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "x"], check=True)
    out = run_setup(tmp_path, str(repo))
    assert out.returncode == 1
    assert "Setup failed while installing the package from" in out.stderr
    assert "Restart session" in out.stderr


def test_setup_is_skipped_when_the_course_is_already_installed(tmp_path):
    out = run_setup(tmp_path, "file:///nonexistent/gan-lab-notebooks", installed=True)
    assert out.returncode == 0 and "SETUP OK" in out.stdout, out.stderr[-2000:]
    assert not (tmp_path / "course").exists()


def test_setup_cell_identical_and_followed_by_the_parameter_check_everywhere():
    for path in NOTEBOOKS:
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        assert "".join(cells[0]["source"]) == setup_cell(), path
        i = next(i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
        assert "after_parameters(globals())" in "".join(cells[i + 1]["source"]), path


# ---- papermill values and names --------------------------------------------------------------
def papermill(notebook, out_dir, *params, env=None):
    cmd = [sys.executable, "-m", "papermill", str(notebook), str(out_dir / notebook.name),
           "--log-level", "WARNING", "--cwd", str(notebook.parent)]
    for name, value in params:
        cmd += ["-p", name, value]
    return subprocess.run(cmd, env=env or dict(os.environ), capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_unknown_papermill_name_stops_the_notebook_before_training(path, tmp_path):
    out = papermill(path, tmp_path, ("learning_rte", "2e-4"), ("output_dir", str(tmp_path)))
    assert out.returncode != 0
    executed = json.loads((tmp_path / path.name).read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert len(errors) == 1 and "no parameter 'learning_rte'" in errors[0]["evalue"]
    if "lr_g" in notebook_parameters(path):  # the closest real name, by its initials
        assert "did you mean 'lr_g' or 'lr_d'?" in errors[0]["evalue"]
    assert not (tmp_path / path.stem).exists()  # nothing trained, no run folder


def test_papermill_lists_tuples_and_numeric_names(mnist_ready, tmp_path):
    out = papermill(NB01, tmp_path, ("g_strides", "[1, 2, 2]"), ("betas_g", "(0.5, 0.999)"),
                    ("run_name", "123"), ("max_images", "128"), ("epochs", "1"),
                    ("wandb_mode", "disabled"), ("output_dir", str(tmp_path)))
    assert out.returncode == 0, out.stderr[-3000:]
    info = json.loads((tmp_path / "01_mnist_dcgan_baseline" / "123" / "hyperparameters.json").read_text())
    assert info["config"]["g_strides"] == [1, 2, 2] and info["config"]["betas_g"] == [0.5, 0.999]


def test_list_text_that_is_not_a_list_is_named():
    from gan_helpers import RunConfig
    with pytest.raises(ValueError, match=r"g_strides='\[1, 2,' is not a valid Python list"):
        RunConfig.from_params({"g_strides": "[1, 2,"})
    assert RunConfig.from_params({"betas_d": "(0.0, 0.9)"}).betas_d == (0.0, 0.9)
