"""`pip install` of the package on Colab changes none of Colab's preinstalled packages.

tests/data/colab-pip-freeze.gpu.txt is Colab's published pip freeze (its header says from
where and when). pip resolves our dependencies for Colab's Python and platform with every
preinstalled package held at its version; a conflict means the install would upgrade or
downgrade something Colab ships. Needs a package index (CI has PyPI); skipped only when pip
cannot reach one.
"""
import json
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
    # left alone, its own dependencies too; one it does not satisfy would be upgraded.
    to_resolve = []
    for text in runtime_requirements():
        req = Requirement(text)
        have = colab.get(_norm(req.name))
        if have is None:
            to_resolve.append(text)
        else:
            assert req.specifier.contains(have, prereleases=True), \
                f"{text}: Colab has {req.name} {have}, pip would replace it"
    if not to_resolve:
        return
    constraints = tmp_path / "colab-constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in colab.items()))
    report = tmp_path / "report.json"
    cmd = PIP + ["install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
                 "--only-binary=:all:", "--python-version", "3.13", "--implementation", "cp",
                 *COLAB_PLATFORMS, "--target", str(tmp_path / "target"),
                 "-c", str(constraints),
                 *to_resolve]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, ("installing gan-helpers on Colab would change a preinstalled "
                                 f"package (or cannot resolve):\n{out.stderr[-3000:]}")
    installed = {_norm(i["metadata"]["name"]): i["metadata"]["version"]
                 for i in json.loads(report.read_text())["install"]}
    changed = {n: (colab[n], v) for n, v in installed.items() if n in colab and colab[n] != v}
    assert changed == {}, f"preinstalled on Colab -> would be installed: {changed}"
