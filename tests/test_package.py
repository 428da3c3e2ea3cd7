"""The package's shape, measured: arrows one way, short functions, notebooks that call only what
`import gan_helpers` exports (each cell on its own, as after a kernel restart)."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gan_helpers"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MAX_FUNCTION_LINES = 50
BOTTOM = "env"  # where we run: imports nothing of ours


def local_imports(path):
    """The package modules a module imports, counting imports inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:  # from . import a, b
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gan_helpers"):
            found.add((node.module.split(".") + ["__init__"])[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("gan_helpers."))
    return found - {path.stem}


def import_graph():
    modules = {p.stem: p for p in PACKAGE.glob("*.py")}
    return {name: local_imports(path) & set(modules) for name, path in modules.items()}


def test_no_import_cycles():
    graph = {k: v for k, v in import_graph().items() if k != "__init__"}  # the root only re-exports
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_bottom_module_imports_nothing_of_ours_and_no_module_imports_the_root():
    graph = import_graph()
    assert graph[BOTTOM] == set()
    assert not [m for m, deps in graph.items() if "__init__" in deps], "import from the root"


def test_no_module_uses_another_modules_private_names():
    offenders = []
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                offenders += [f"{path.name}: {a.name}" for a in node.names if a.name.startswith("_")]
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in import_graph()):
                offenders.append(f"{path.name}: {node.value.id}.{node.attr}")
    assert offenders == []


def test_no_function_is_longer_than_a_screen():
    long = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


def gh_chains(source):
    """Every gh.a.b... chain in a cell ('gh.a.b' as a tuple ('a', 'b'))."""
    chains = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            parts, inner = [], node
            while isinstance(inner, ast.Attribute):
                parts.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name) and inner.id == "gh":
                chains.append(tuple(reversed(parts)))
    return chains


def code_cells(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    for cell in cells:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            # IPython's "!shell" lines are not Python: a `pass` in their place keeps the indentation
            yield "\n".join(line[:len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith("!")
                            else line for line in source.splitlines())


def test_notebooks_call_only_what_a_fresh_import_exports():
    """Each gh.<chain> of each cell of each notebook, checked in a fresh interpreter that ran only
    `import gan_helpers as gh`: no cell may rely on an earlier cell's import."""
    per_notebook = {nb.stem: {c for cell in code_cells(nb) for c in gh_chains(cell)} for nb in NOTEBOOKS}
    assert all(per_notebook.values()), "a notebook that calls nothing of gan_helpers?"
    chains = sorted(set().union(*per_notebook.values()))
    check = ("import functools, sys, gan_helpers as gh\n"
             f"chains = {chains!r}\n"
             "missing = ['gh.' + '.'.join(c) for c in chains\n"
             "           if not all(hasattr(o, a) for o, a in [(functools.reduce(getattr, c[:i], gh), c[i])\n"
             "                                                  for i in range(len(c))])]\n"
             "print(missing); sys.exit(1 if missing else 0)\n")
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebooks_import_the_package_one_way(notebook):
    """`import gan_helpers as gh` and gh.X only: no `from gan_helpers... import`."""
    for cell in code_cells(notebook):
        for node in ast.walk(ast.parse(cell)):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("gan_helpers"), cell
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("gan_helpers"):
                        assert alias.name == "gan_helpers" and alias.asname == "gh", cell


def test_the_layout_doc_lists_every_module_with_its_real_imports_in_order():
    """docs/PACKAGE.md's table: every module once, its imports as they are, each after them."""
    graph, listed = import_graph(), []
    for line in (ROOT / "docs" / "PACKAGE.md").read_text().splitlines():
        if line.startswith("| `") and line.split("`")[1].endswith(".py"):
            module, said = line.split("`")[1][:-3], line.rstrip(" |").rsplit("|", 1)[1].strip()
            if module != "__init__":
                words = set() if said in ("nothing", "—") else {w.strip() for w in said.split(",")}
                assert words == graph[module], f"{module}: the doc says {sorted(words)}"
                assert graph[module] <= set(listed), f"{module} imports a module listed after it"
            listed.append(module)
    assert sorted(listed) == sorted(graph)
