"""A notebook's parameters: read from its one `parameters` cell, checked by name, and typed
values parsed as Python literals. The sweep, the report and the lesson acceptance script read
notebooks through this module; it imports nothing of ours but the config's run-parameter names.
"""
import ast
import difflib
import json
from pathlib import Path

from .config import RUN_PARAMETERS
from .course import course_folders


def notebook_parameters(notebook):
    """{name: default} from the notebook's one cell tagged `parameters`."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"{notebook} has {len(tagged)} cells tagged 'parameters'; papermill "
                         f"needs exactly one.")
    params = {}
    for node in ast.parse("".join(tagged[0]["source"])).body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                params[target.id] = ast.literal_eval(node.value)
    return params


RUNNER_PARAMETERS = RUN_PARAMETERS[:3]  # experiment, output_dir, run_name


def check_names(notebook, names):
    """Refuse names the notebook does not define, with the closest ones it does."""
    known = notebook_parameters(notebook)
    missing = [n for n in RUNNER_PARAMETERS if n not in known]
    if missing:
        raise ValueError(f"{Path(notebook).name} cannot be swept: its parameters cell lacks "
                         f"{', '.join(missing)} (the runner sets {', '.join(RUNNER_PARAMETERS)} so "
                         f"each variant trains one run into its own folder). Sweep a notebook that "
                         f"trains one run, such as 01_mnist_dcgan_baseline.ipynb.")
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=2, cutoff=0.6)
            hint = f"did you mean {' or '.join(map(repr, close))}?" if close else \
                f"its parameters are: {', '.join(known)}."
            raise ValueError(f"{Path(notebook).name} has no parameter {name!r} (papermill would "
                             f"silently ignore it); {hint}")


def parse_value(text):
    """'1e-4' -> 0.0001, '[64, 32]' -> list, 'adam' -> 'adam'."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def split_top_level(text):
    """'adam,rmsprop' -> ['adam', 'rmsprop']; '(0.5,0.999),(0.9,0.999)' -> two tuples' texts:
    commas inside brackets or quotes do not split."""
    parts, depth, quote, start = [], 0, None, 0
    for i, c in enumerate(text):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_assignments(items, split_values):
    """['batch_size=64,256'] -> {'batch_size': [64, 256]} (or a single value).
    Values are Python literals where they parse ('1e-4', '(0.5, 0.999)', 'None'), else text."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{item!r} must look like name=value{',value' if split_values else ''}")
        name, text = item.split("=", 1)
        if split_values:
            out[name.strip()] = [parse_value(part) for part in split_top_level(text)]
        else:
            out[name.strip()] = parse_value(text.strip())
    return out


def find_notebook(name):
    """A curriculum notebook by file name: here, in notebooks/, in this package's checkout,
    or in the Colab clone the setup cell makes. A path that does not exist from this folder
    (`notebooks/01_....ipynb` typed in Colab's terminal, which starts in /content) is looked
    up by its file name in those folders too."""
    folders = (Path("notebooks"), *(folder / "notebooks" for folder in course_folders()))
    for candidate in (Path(name), *(folder / name for folder in folders),
                      *(folder / Path(name).name for folder in folders)):
        if candidate.is_file():
            return candidate.resolve()
    raise FileNotFoundError(f"notebook {name!r} not found here, in notebooks/ or in the Colab "
                            f"clone; run the setup cell (it clones the repository) or give a path.")
