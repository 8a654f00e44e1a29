"""The plugin example installs into a fresh venv with pip and its node runs in a flow there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "examples" / "flowstudio-textstats"


def _fresh_venv(root: Path) -> Path:
    """A new venv that sees FlowStudio's environment (torch etc. are not reinstalled) through a .pth file.

    `site.addsitedir` also processes that directory's own .pth files, so FlowStudio's editable install
    resolves; the plugin itself is installed by pip into the fresh venv only.
    """
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    host = sysconfig.get_paths()["purelib"]
    Path(purelib, "_flowstudio_host.pth").write_text(f"import site; site.addsitedir({host!r})\n")
    return python


def test_plugin_installs_into_a_fresh_venv_and_its_node_runs(tmp_path):
    python = _fresh_venv(tmp_path / "venv")
    env = {**os.environ, "FLOWSTUDIO_HOME": str(tmp_path / "home"), "PIP_NO_INDEX": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    before = subprocess.run([python, "-m", "flowstudio", "nodes", "--json"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=True)
    assert "textstats.count" not in before.stdout  # not installed yet: the test can fail

    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(PLUGIN)],
                   cwd=tmp_path, env=env, check=True, capture_output=True, text=True)
    site = subprocess.run([python, "-c", "import flowstudio_textstats, sys; print(flowstudio_textstats.__file__)"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    assert str(tmp_path / "venv") in site, "the plugin must be installed in the fresh venv, not the host's"

    listed = subprocess.run([python, "-m", "flowstudio", "nodes", "--json"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=True)
    types = {node["type"] for node in json.loads(listed.stdout)}
    assert {"textstats.count", "io.text", "train.sft"} <= types
    assert "failed to load" not in listed.stderr

    flow = PLUGIN / "flows" / "count_words.flow.json"
    done = subprocess.run([python, "-m", "flowstudio", "run", str(flow), "--json", "--quiet",
                           "--run-dir", str(tmp_path / "run")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    text = "FlowStudio loads plugins through entry points. This one counts words!"
    words = text.replace(".", " ").replace("!", " ").split()
    assert summary["outputs"]["result"] == {
        "words": len(words), "sentences": 2, "characters": len(text),
        "long_words": sum(len(w) >= 7 for w in words),
    }


def test_the_plugin_example_is_a_valid_flow_for_the_plugin_node():
    """The example's node class follows the contract (runs in this process too, with the module imported)."""
    sys.path.insert(0, str(PLUGIN / "src"))
    try:
        from flowstudio_textstats.nodes import TextStatistics
    finally:
        sys.path.remove(str(PLUGIN / "src"))
    described = TextStatistics.describe()
    assert described["type"] == "textstats.count"
    assert [p["name"] for p in described["inputs"]] == ["text"]
