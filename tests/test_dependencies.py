"""`pip install` of the package on Colab changes none of Colab's preinstalled packages.

tests/data/colab-pip-freeze.gpu.txt is Colab's published pip freeze (its header says from
where and when). pip resolves our dependencies for Colab's Python and platform with every
preinstalled package held at its version; a conflict means the install would upgrade or
downgrade something Colab ships. Needs a package index (CI has PyPI); skipped only when pip
cannot reach one.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

ROOT = Path(__file__).resolve().parents[1]
FREEZE = ROOT / "tests" / "data" / "colab-pip-freeze.gpu.txt"
# Colab: Ubuntu 22.04 (glibc 2.35), x86_64. pip takes each compatible wheel tag by name.
COLAB_PLATFORMS = [arg for tag in [f"manylinux_2_{minor}_x86_64" for minor in range(35, 4, -1)]
                   + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
                   for arg in ("--platform", tag)]
PIP = [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check"]


def colab_versions():
    """{name: version} of Colab's pip freeze; local labels (+cu128) dropped: PyPI has none."""
    versions = {}
    for line in FREEZE.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;+]+)(\+\S+)?", line.strip())
        if match:
            versions[_norm(match[1])] = match[2]
    return versions


def _norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements():
    if tomllib is None:
        pytest.skip("needs Python 3.11+ (tomllib) to read pyproject.toml")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def test_runtime_dependencies_hold_no_test_tools():
    names = {_norm(re.split(r"[<>=!~ \[]", r)[0]) for r in runtime_requirements()}
    assert not names & {"pytest", "nbmake", "ipykernel"}
    assert "papermill" in names and any(r.startswith("wandb>=0.19.9") for r in runtime_requirements())


def test_install_on_colab_changes_no_preinstalled_package(tmp_path):
    probe = subprocess.run(PIP + ["index", "versions", "pip"], capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        pytest.skip(f"pip cannot reach a package index: {probe.stderr.strip()[-300:]}")
    colab = colab_versions()
    assert len(colab) > 300 and "torch" in colab
    # pip's default (--upgrade-strategy only-if-needed): a requirement Colab already satisfies is
    # left alone, its own dependencies too; one it does not satisfy would be upgraded. So the
    # walk below counts Colab's packages as installed, as pip on Colab does, and asks pip only
    # for the newest version of each package Colab lacks (and then for that one's needs).
    # (Resolving them all at once with --ignore-installed would re-resolve torch's own CUDA
    # wheels, which Colab has but PyPI's index cannot pin, and fail for no real reason.)
    pending, chosen = list(runtime_requirements()), {}
    while pending:
        req = Requirement(pending.pop())
        name = _norm(req.name)
        if req.marker is not None and not req.marker.evaluate(dict(COLAB_MARKERS, extra="")):
            continue
        if name in colab:
            assert req.specifier.contains(colab[name], prereleases=True), \
                f"{req} (needed by what we install): Colab has {req.name} {colab[name]}, pip would replace it"
        elif name not in chosen:
            chosen[name], needs = newest_on_colab(req, tmp_path)
            pending += needs
    assert "papermill" in chosen and "torchmetrics" in chosen, chosen  # Colab lacks both


COLAB_MARKERS = {"python_version": "3.13", "python_full_version": "3.13.15", "sys_platform": "linux",
                 "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
                 "implementation_name": "cpython", "platform_python_implementation": "CPython"}


def newest_on_colab(req, tmp_path):
    """(version, its requirements) of what pip would pick for `req` on Colab's Python."""
    report = tmp_path / f"{_norm(req.name)}.json"
    cmd = PIP + ["install", "--dry-run", "--ignore-installed", "--no-deps", "--quiet", "--report",
                 str(report), "--only-binary=:all:", "--python-version", "3.13", "--implementation",
                 "cp", *COLAB_PLATFORMS, "--target", str(tmp_path / "target"), str(req)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"pip cannot install {req} on Colab's Python:\n{out.stderr[-3000:]}"
    (item,) = json.loads(report.read_text())["install"]
    return item["metadata"]["version"], item["metadata"].get("requires_dist", [])


# What the notebooks import, at the version CI's Colab lane must hold
COLAB_LANE = ["torch", "torchvision", "numpy", "matplotlib", "ipywidgets", "wandb", "ipykernel",
              "ipython", "tqdm", "pillow"]


def test_the_notebook_kernel_holds_colabs_versions():
    """CI's Colab lane (.ci/run): the kernel nbmake runs every notebook in, GAN_NOTEBOOK_KERNEL,
    has Colab's versions of what the notebooks import, and imports this checkout's gan_helpers."""
    name = os.environ.get("GAN_NOTEBOOK_KERNEL")
    if not name:
        pytest.skip("no Colab lane here: .ci/run builds one and sets GAN_NOTEBOOK_KERNEL")
    from jupyter_client.kernelspec import KernelSpecManager
    python = KernelSpecManager().get_kernel_spec(name).argv[0]
    code = ("import json, importlib.metadata as m, gan_helpers; "
            f"print(json.dumps([{{n: m.version(n) for n in {COLAB_LANE!r}}}, gan_helpers.__file__]))")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    versions, where = json.loads(out.stdout)
    colab = colab_versions()
    assert versions == {n: colab[_norm(n)] for n in COLAB_LANE}
    assert Path(where).resolve() == ROOT / "gan_helpers" / "__init__.py"
