"""Issue 36: every command a notebook's text gives works from where a student types it. Colab's
terminal and `!` commands start in /content, with the course cloned elsewhere: so notebooks give
`python -m gan_helpers...` commands (the course's scripts through gan_helpers.course), and each is
run here from another folder."""
import csv
import json
import math
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from gan_helpers import course

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
COMMAND = re.compile(r"(?:`|^)(python [^`\n]+)", re.M)


def markdown_commands():
    """{(notebook, command)}: each `python ...` command in a notebook's markdown."""
    found = set()
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                found |= {(path.stem, c.strip()) for c in COMMAND.findall("".join(cell["source"]))}
    return sorted(found)


def test_notebooks_give_no_command_that_needs_the_course_folder():
    for notebook, command in markdown_commands():
        assert command.startswith("python -m gan_helpers."), (notebook, command)


def what_runs(command):
    """The module (and, for gan_helpers.course, the script) a command runs: one --help each."""
    words = shlex.split(command)
    return tuple(words[2:4]) if words[2] == "gan_helpers.course" else (words[2],)


@pytest.mark.parametrize("target", sorted({what_runs(c) for _, c in markdown_commands()}), ids=" ".join)
def test_each_command_starts_from_another_folder(target, tmp_path):
    """From an empty folder (as /content is): the module or the course script answers --help."""
    done = subprocess.run([sys.executable, "-m", *target, "--help"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage" in done.stdout.lower() or "python" in done.stdout


# The commands that train and that a student edits and reruns: run as the notebook writes them,
# in quick mode (the first seed, 2 epochs of 512 images; about a minute), from an empty folder.
# The acceptance scripts' commands take minutes: collapse_acceptance has no quick mode (its numbers
# are full-mode numbers; --part 1 --seeds 1 2 3 took 6 min here), lesson_acceptance 02/03 run a
# sweep of every variant. They answer --help above; notebook 06's runs in tests/test_stacked_mnist.py.
SWEEPS = [c for _, c in markdown_commands() if c.startswith("python -m gan_helpers.sweep notebooks/")]


@pytest.mark.parametrize("command", SWEEPS)
def test_a_sweep_command_runs_as_written_from_another_folder(command, tmp_path):
    words = shlex.split(command)
    done = subprocess.run([sys.executable, *words[1:]], cwd=tmp_path, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    (summary,) = (tmp_path / "outputs" / "sweeps").glob("*/summary.csv")
    rows = list(csv.DictReader(summary.open()))
    grids = [w for i, w in enumerate(words) if i and words[i - 1] == "--grid"]
    assert len(rows) == math.prod(len(g.split("=")[1].split(",")) for g in grids)  # one seed each
    assert all(r["status"] == "finished" for r in rows), rows


def test_course_files_are_found_in_colabs_clone_and_a_missing_one_says_what_to_do(tmp_path):
    clone = tmp_path / "gan-lab-notebooks"
    (clone / "data_scripts").mkdir(parents=True)
    (clone / "data_scripts" / "make_gallery.py").write_text("")
    folders = (tmp_path / "elsewhere", clone)
    assert course.find_course_file("data_scripts", "make_gallery.py", folders) == (clone / "data_scripts" / "make_gallery.py")
    assert course.scripts(folders) == ["make_gallery"]
    with pytest.raises(FileNotFoundError, match="setup cell"):
        course.find_course_file("data_scripts", "nope.py", folders)


def test_an_unknown_script_lists_the_courses_scripts(tmp_path):
    done = subprocess.run([sys.executable, "-m", "gan_helpers.course", "lesson_acceptence"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "lesson_acceptance" in done.stderr
