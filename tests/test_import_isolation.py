"""The headless layers and the node library import neither Qt nor the ML stack (fast start, no GPU init)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["PySide6", "torch", "transformers", "peft", "trl", "datasets", "accelerate"]

PROBE = """
import importlib, json, pkgutil, sys
import flowstudio.core, flowstudio.engine, flowstudio.nodes
imported = []
for pkg in (flowstudio.core, flowstudio.engine, flowstudio.nodes):
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{pkg.__name__}."):
        importlib.import_module(info.name)
        imported.append(info.name)
flowstudio.nodes.node_types()
import flowstudio.cli
flowstudio.cli.build_parser()
print(json.dumps({"heavy": [m for m in HEAVY if m in sys.modules], "imported": imported}))
"""


def test_core_engine_and_every_node_module_import_without_qt_or_torch():
    code = f"HEAVY = {HEAVY!r}\n" + PROBE
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], f"imported at module level: {result['heavy']}"
    assert "flowstudio.nodes.io.text" in result["imported"]
    assert "flowstudio.nodes.rl.ppo.trainer" in result["imported"], "helpers in nested packages are probed too"
    assert "flowstudio.core.validation" in result["imported"]
