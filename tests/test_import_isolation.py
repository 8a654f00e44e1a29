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
    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{info.name}")
        imported.append(f"{pkg.__name__}.{info.name}")
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
    assert "flowstudio.nodes.io" in result["imported"]
    assert "flowstudio.core.validation" in result["imported"]
