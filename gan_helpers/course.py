"""The course's own scripts (data_scripts/ of its repository), run from any folder.

    python -m gan_helpers.course lesson_acceptance 02_architecture_variations --seeds 4 5 6 --json 02.json
    python -m gan_helpers.course train_classifier --dataset fashion_mnist

Colab's terminal and a `!` command in a notebook start in /content, where `python
data_scripts/x.py` finds nothing: the course lives in the clone the setup cell made. This
finds the course's folder (the checkout this package was installed from, the current folder,
or Colab's clone) and runs the script as `python <course>/data_scripts/<name>.py ARGS` would,
in the current folder: what it writes lands where you are.
"""
import runpy
import sys
from pathlib import Path

COLAB_CLONE = Path("/content/gan-lab-notebooks")  # where every notebook's setup cell clones the course


def course_folders():
    """Where the course's files may be: this package's checkout (an editable install), the
    current folder, Colab's clone."""
    return (Path(__file__).resolve().parents[1], Path.cwd(), COLAB_CLONE)


def find_course_file(subfolder, name, folders=None):
    """<course>/<subfolder>/<name> in the first course folder that has it."""
    folders = course_folders() if folders is None else folders
    for folder in folders:
        if (folder / subfolder / name).is_file():
            return (folder / subfolder / name).resolve()
    raise FileNotFoundError(f"{subfolder}/{name} is in none of {', '.join(map(str, folders))}. Run a "
                            f"notebook's setup cell (on Colab it clones the course to {COLAB_CLONE}), or run "
                            f"this from the course's folder.")


def scripts(folders=None):
    """The names of the course's scripts, as this command takes them."""
    folder = find_course_file("data_scripts", "make_gallery.py", folders).parent
    return sorted(p.stem for p in folder.glob("*.py"))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.split("\n\n")[0] + "\n\nusage: python -m gan_helpers.course SCRIPT [ARGS ...]\n"
              "scripts: " + ", ".join(scripts()))
        return 0
    name = argv[0].removesuffix(".py").removeprefix("data_scripts/")
    try:
        script = find_course_file("data_scripts", name + ".py")
    except FileNotFoundError as error:
        known = scripts() if any((f / "data_scripts").is_dir() for f in course_folders()) else []
        sys.exit(f"{error}" + (f"\nThe course's scripts: {', '.join(known)}" if known else ""))
    sys.argv = [str(script), *argv[1:]]  # as if run as `python <script> ARGS`
    runpy.run_path(str(script), run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
