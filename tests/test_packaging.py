"""A non-editable install ships the node library, templates and assets inside the package."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with FlowStudio installed from a built wheel; third-party libraries are borrowed
    from the test environment through a plain path entry (so no editable finder leaks in)."""
    work = tmp_path_factory.mktemp("pkg")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(work / "dist"), str(ROOT)], check=True, timeout=300)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    [wheel] = (work / "dist").glob("flowstudio-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
                   check=True, timeout=300)
    return venv


def run_in(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(cwd)})


def test_wheel_install_lists_nodes_and_validates_templates(installed_venv: Path, tmp_path: Path):
    flowstudio = str(installed_venv / "bin" / "flowstudio")
    out = run_in(installed_venv, flowstudio, "nodes", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    types = {n["type"] for n in json.loads(out.stdout)}
    from flowstudio.nodes import node_types

    assert types == {cls.type for cls in node_types()}, "the wheel ships every node type of the checkout"

    py = str(installed_venv / "bin" / "python")
    probe = ("import flowstudio, json; from flowstudio.core.paths import templates_dir, assets_dir;"
             "print(json.dumps({'pkg': flowstudio.__file__, 'templates': sorted(str(p) for p in "
             "templates_dir().glob('*.flow.json')), 'assets': assets_dir().is_dir()}))")
    info = json.loads(run_in(installed_venv, py, "-c", probe, cwd=tmp_path).stdout)
    assert info["pkg"].startswith(str(installed_venv)), "the installed copy is used, not the checkout"
    shipped = {Path(p).name for p in info["templates"]}
    assert shipped == {p.name for p in (ROOT / "templates").glob("*.flow.json")}
    assert info["assets"]

    out = run_in(installed_venv, flowstudio, "validate", *info["templates"], cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr


def test_no_bare_nodes_module_is_installed(installed_venv: Path, tmp_path: Path):
    py = str(installed_venv / "bin" / "python")
    out = run_in(installed_venv, py, "-c", "import nodes", cwd=tmp_path)
    assert out.returncode != 0 and "No module named 'nodes'" in out.stderr


def checkout_modules() -> set[str]:
    names = set()
    for base, prefix in ((ROOT / "flowstudio", "flowstudio"), (ROOT / "nodes", "flowstudio.nodes")):
        for path in base.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.add(".".join([prefix, *parts]))
    return names


def test_the_wheel_ships_every_module_of_the_checkout(installed_venv: Path, tmp_path: Path):
    py = str(installed_venv / "bin" / "python")
    probe = ("import json, pkgutil, flowstudio; print(json.dumps(['flowstudio'] + [m.name for m in "
             "pkgutil.walk_packages(flowstudio.__path__, 'flowstudio.', onerror=lambda name: None)]))")
    out = run_in(installed_venv, py, "-c", probe, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    missing = checkout_modules() - set(json.loads(out.stdout))
    assert not missing, f"not in the wheel (add the package to pyproject.toml): {sorted(missing)}"
